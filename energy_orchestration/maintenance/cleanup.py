"""Delete finished Dagster runs older than the retention age, with everything stored per run.

Why: the fetch sensor launches ~1,440 runs a day; each run keeps a run row, its tags, its event
log and its captured stdout/stderr forever unless something deletes them. Dagster's own
``retention:`` setting only purges sensor/schedule *ticks*, not runs.

What goes with a run (``DagsterInstance.delete_run``): the run and its tags, every event of the
run, including its asset materialisations, observations and check evaluations in the asset
index. So an asset's history in the UI reaches back exactly as far as the retention age; the
latest materialisation of a daily or hourly asset is never older than that, so it is always
kept. What ``delete_run`` leaves and this module removes too: the run's compute-log folder
(``$DAGSTER_HOME/storage/<run_id>``) and, with SQLite event storage, the run's now empty event
shard file (``history/runs/<run_id>.db``).

Runs still in flight (queued, starting, started, cancelling) are never touched, whatever
their age: a run stuck in flight is run monitoring's business, and deleting it would hide it.

A plain function of the instance and a clock so tests can drive time.
"""

import os
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


@dataclass(frozen=True)
class CleanupStats:
    cutoff: datetime
    runs_deleted: int
    events_deleted: int
    event_shards_deleted: int
    check_executions_deleted: int
    in_flight_kept: int

    def summary(self) -> str:
        """The status line the cleanup job logs."""
        return (f"run cleanup: deleted {self.runs_deleted:,} finished runs created before "
                f"{self.cutoff:%Y-%m-%d %H:%M} UTC with {self.events_deleted:,} event records, "
                f"{self.check_executions_deleted:,} check executions, their compute logs and "
                f"{self.event_shards_deleted:,} event shard files; kept {self.in_flight_kept:,} older runs "
                f"still in flight")


def delete_old_runs(instance: dg.DagsterInstance, older_than: timedelta, now: datetime,
                    batch_size: int = 200) -> CleanupStats:
    """Delete every finished run created before ``now - older_than``, ``batch_size`` at a time.

    Batches keep each storage transaction and each query small, so the daemon and the UI,
    which share the SQLite files, wait at most one batch. Runs are re-queried after each batch
    (the deleted ones no longer match), oldest first.
    """
    if older_than <= timedelta(0):
        raise ValueError(f"older_than must be positive, got {older_than}")
    cutoff = now - older_than
    finished_filter = dg.RunsFilter(statuses=FINISHED, created_before=cutoff)
    runs = events = shards = checks = 0
    seen: set[str] = set()
    while True:
        batch = [r.dagster_run.run_id for r in instance.get_run_records(
            finished_filter, limit=batch_size, order_by="create_timestamp", ascending=True)]
        batch = [run_id for run_id in batch if run_id not in seen]  # a run that would not delete ends the loop
        if not batch:
            break
        for run_id in batch:
            seen.add(run_id)
            events += len(instance.all_logs(run_id))
            instance.delete_run(run_id)
            instance.compute_log_manager.delete_logs(prefix=[run_id])
            shards += _delete_empty_event_shard(instance, run_id)
            runs += 1
        checks += _delete_check_executions(instance, batch)
    in_flight = len(instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT, created_before=cutoff)))
    return CleanupStats(cutoff=cutoff, runs_deleted=runs, events_deleted=events, event_shards_deleted=shards,
                        check_executions_deleted=checks, in_flight_kept=in_flight)


def _delete_empty_event_shard(instance: dg.DagsterInstance, run_id: str) -> int:
    """SQLite event storage keeps one file per run; ``delete_events`` empties it but leaves it."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqliteEventLogStorage):
        return 0
    path = storage.path_for_shard(run_id)
    if not os.path.exists(path):
        return 0
    os.unlink(path)
    # forget the shard was set up, so a later read of this run finds no events instead of no table
    getattr(storage, "_initialized_dbs", set()).discard(run_id)
    return 1


def _delete_check_executions(instance: dg.DagsterInstance, run_ids: list[str]) -> int:
    """``delete_run`` removes a run's check evaluation events but not their index rows (1.13)."""
    storage = instance.event_log_storage
    if not isinstance(storage, SqlEventLogStorage):
        return 0
    with storage.index_connection() as connection:
        deleted = connection.execute(
            AssetCheckExecutionsTable.delete().where(AssetCheckExecutionsTable.c.run_id.in_(run_ids)))
    return deleted.rowcount or 0
