"""Operating DuckLake: compact the small Parquet files of minute micro-batches, expire old
snapshots and delete the files no snapshot needs any more.

Why: every landing micro-batch (about one a minute per consumer) commits a DuckLake snapshot
that writes new, small Parquet files (and, for upserted rows, delete files). Left alone, a day
adds ~1,440 snapshots and several thousand tiny files per table: every query opens them all, and
the catalog and the storage only grow, because DuckLake keeps every snapshot (time travel) and
every file a snapshot references until told otherwise. DuckLake's own maintenance functions do
the work; this module only runs them in the right order and measures what they did:

1. ``ducklake_merge_adjacent_files``: adjacent small files of a table become one file (which still
   answers time travel to the snapshots it replaces); the small ones are scheduled for deletion;
2. ``ducklake_rewrite_data_files``: files most of whose rows were deleted (upserts) are rewritten;
3. ``ducklake_expire_snapshots``: snapshots older than the retention are forgotten (the newest
   always stays), which releases the files only they referenced;
4. ``ducklake_cleanup_old_files``: files scheduled for deletion before the same cutoff are deleted
   from the data path, so a query that started on an older snapshot just before a merge still
   finds its small files; they go one retention period later.

Not ``ducklake_flush_inlined_data``: DuckLake keeps tiny inserts (the ingest log's and the
quarantine's few rows per batch) inside the catalog, and flushing them made a long-lived
reader (another DuckDB instance, as in an API process) fail with an internal error on its next
read of that table (DuckDB 1.5.5's DuckLake; seen in tests/integration/test_lake_maintenance.py
with the flush added), which would break every API process. Those rows stay in PostgreSQL, where they are small.
Files written by a writer that has not committed yet are never touched (no
``ducklake_delete_orphaned_files``: an uncommitted file looks orphaned). A reader holding a
snapshot older than the retention would lose its files; our readers hold a snapshot for one
request or one query only.

On the single-file backend there is nothing of this kind to do (DuckDB reuses the file's free
blocks itself): the function says so and changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import duckdb

from energy_orchestration.warehouse import Warehouse

log = logging.getLogger(__name__)

STEPS = ("ducklake_merge_adjacent_files", "ducklake_rewrite_data_files")


@dataclass(frozen=True)
class StorageFigures:
    """What a DuckLake catalog holds at one moment."""

    files_on_storage: int
    """Every file under the data path (data and delete files of every kept snapshot, and files
    waiting to be deleted)."""
    bytes_on_storage: int
    live_data_files: int
    """Data files of the newest snapshot: what a query opens."""
    snapshots: int


@dataclass(frozen=True)
class LakeMaintenanceReport:
    """What one maintenance pass did; ``applicable`` is False on the single-file backend."""

    applicable: bool
    message: str
    cutoff: datetime | None = None
    before: StorageFigures | None = None
    after: StorageFigures | None = None
    files_merged: int = 0
    """Input files the merge and rewrite steps replaced (by ``files_created`` new ones)."""
    files_created: int = 0
    snapshots_expired: int = 0
    files_deleted: int = 0

    @property
    def bytes_freed(self) -> int:
        if self.before is None or self.after is None:
            return 0
        return self.before.bytes_on_storage - self.after.bytes_on_storage

    def summary(self) -> str:
        if not self.applicable or self.before is None or self.after is None:
            return self.message
        return (f"DuckLake maintenance: live data files {self.before.live_data_files} -> {self.after.live_data_files} "
                f"({self.files_merged} merged into {self.files_created}); "
                f"snapshots {self.before.snapshots} -> {self.after.snapshots} ({self.snapshots_expired} older than "
                f"{self.cutoff:%Y-%m-%d %H:%M:%S} UTC expired); files on storage {self.before.files_on_storage} -> "
                f"{self.after.files_on_storage} ({self.files_deleted} deleted), bytes on storage "
                f"{self.before.bytes_on_storage} -> {self.after.bytes_on_storage}")

    def metadata(self) -> dict[str, object]:
        """Figures for a Dagster op's output metadata."""
        figures: dict[str, object] = {"applicable": self.applicable, "summary": self.summary()}
        if self.before is not None and self.after is not None:
            figures.update({
                "cutoff": self.cutoff.isoformat() if self.cutoff else "",
                "live_data_files_before": self.before.live_data_files,
                "live_data_files_after": self.after.live_data_files,
                "files_on_storage_before": self.before.files_on_storage,
                "files_on_storage_after": self.after.files_on_storage,
                "bytes_on_storage_before": self.before.bytes_on_storage,
                "bytes_on_storage_after": self.after.bytes_on_storage,
                "bytes_freed": self.bytes_freed,
                "snapshots_before": self.before.snapshots, "snapshots_after": self.after.snapshots,
                "snapshots_expired": self.snapshots_expired, "files_merged": self.files_merged,
                "files_created": self.files_created,
                "files_deleted": self.files_deleted})
        return figures


def maintain_lake(warehouse: Warehouse, retention: timedelta, now: datetime | None = None) -> LakeMaintenanceReport:
    """Compact, expire snapshots older than ``now - retention`` and delete unreferenced files.

    ``now`` defaults to the real clock, not the platform's (possibly pinned, ``ENERGY_CLOCK_NOW``)
    one: DuckLake stamps its snapshots with the real time. Each step is its own transaction and
    is retried on a conflict with a concurrent writer (the landing consumer keeps landing).
    """
    from energy_orchestration.warehouse.lake import CATALOG_ALIAS, DuckLakeWarehouse, retry_on_conflict

    if not isinstance(warehouse, DuckLakeWarehouse):
        return LakeMaintenanceReport(False, f"nothing to do: the warehouse is the single DuckDB file "
                                            f"{warehouse.location}; compaction and snapshot expiry apply to "
                                            "DuckLake (ENERGY_WAREHOUSE_URL) only")
    if retention < timedelta(0):
        raise ValueError(f"the snapshot retention must not be negative, got {retention}")
    cutoff = (now or datetime.now(timezone.utc)).astimezone(timezone.utc) - retention
    lake = CATALOG_ALIAS

    def step(sql: str, what: str) -> list[tuple]:
        def run() -> list[tuple]:
            with warehouse.connect() as connection:
                return connection.execute(sql).fetchall()
        return retry_on_conflict(run, retries=warehouse.conflict_retries, what=what)

    before = _figures(warehouse)
    merged = created = 0
    for function in STEPS:
        for _schema, _table, processed, made in step(f"SELECT * FROM {function}('{lake}')", f"DuckLake {function}"):
            merged += int(processed)
            created += int(made)
    expired = step(f"SELECT snapshot_id FROM ducklake_expire_snapshots('{lake}', older_than => "
                   f"'{cutoff:%Y-%m-%d %H:%M:%S.%f}+00'::TIMESTAMPTZ)", "expiring DuckLake snapshots")
    deleted = step(f"SELECT path FROM ducklake_cleanup_old_files('{lake}', older_than => "
                   f"'{cutoff:%Y-%m-%d %H:%M:%S.%f}+00'::TIMESTAMPTZ)",
                   "deleting DuckLake files no snapshot needs")
    report = LakeMaintenanceReport(True, "", cutoff.replace(tzinfo=None), before, _figures(warehouse), merged, created,
                                   len(expired), len(deleted))
    log.info(report.summary())
    return report


def _figures(warehouse: Warehouse) -> StorageFigures:
    """The catalog's snapshots and live files, and what really is on storage under the data path
    (``read_blob`` lists sizes without reading the files' contents; works on ``s3://`` too)."""
    from energy_orchestration.warehouse.lake import CATALOG_ALIAS

    lake = CATALOG_ALIAS
    with warehouse.connect() as connection:
        snapshots = connection.execute(f"SELECT count(*) FROM ducklake_snapshots('{lake}')").fetchall()[0][0]
        live = connection.execute(f"SELECT count(*) FROM __ducklake_metadata_{lake}.ducklake_data_file "
                                  "WHERE end_snapshot IS NULL").fetchall()[0][0]
        pattern = (warehouse.data_path.rstrip("/") + "/**").replace("'", "''")  # type: ignore[attr-defined]
        try:
            files, size = connection.execute(f"SELECT count(*), coalesce(sum(size), 0) FROM "
                                             f"read_blob('{pattern}')").fetchall()[0]
        except duckdb.IOException:  # nothing written yet: the folder does not exist
            files, size = 0, 0
    return StorageFigures(int(files), int(size), int(live), int(snapshots))
