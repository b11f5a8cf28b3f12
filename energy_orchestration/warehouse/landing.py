"""Idempotent writes of landed data: observations, raw records, quarantine and ingest log.

Replaying a Kafka topic or re-fetching a window must never create duplicates, so every
write is an upsert on the natural key, after de-duplicating the batch itself (DuckDB refuses
to update one row twice in one statement).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import pandas as pd


@dataclass
class QuarantineRow:
    source_id: str
    rule: str
    stage: str
    reason: str
    dataset: str | None = None
    record_key: str | None = None
    zone: str | None = None
    quantity: str = ""
    payload: str | None = None
    interval_start_utc: datetime | None = None
    """The refused value's interval, so completeness checks count it as explained, not missing."""


@dataclass
class IngestLogRow:
    batch_id: str
    dataset: str
    consumer_group: str
    messages: int
    observations: int
    quarantined: int
    dead_lettered: int
    min_interval_utc: datetime | None
    max_interval_utc: datetime | None
    offsets: str
    lag: str


@dataclass
class LandingBatch:
    """Everything one micro-batch writes, in one transaction."""

    observations: pd.DataFrame  # canonical columns + fetched_at_utc, kafka_partition, kafka_offset
    raw_records: pd.DataFrame   # dataset, record_key, interval_start_utc, payload, fetched_at_utc, kafka_*
    """Unique on (dataset, record_key), as ``observations`` is on its natural key: the consumer
    keeps the newest message per provider record (``streaming.batch.newest_per_record``)."""
    quarantine: list[QuarantineRow] = field(default_factory=list)
    ingest_log: list[IngestLogRow] = field(default_factory=list)


@dataclass(frozen=True)
class Written:
    """What an upsert did with the observation rows it was given (one dataset)."""

    new: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class LandingResult:
    observations_written: int
    raw_records_written: int
    quarantined: int
    written: dict[str, Written] = field(default_factory=dict)
    """Per dataset: observation rows new, changed, unchanged (a replay is all unchanged)."""


def land(connection: duckdb.DuckDBPyConnection, batch: LandingBatch, landed_at: datetime) -> LandingResult:
    """Write one batch; call inside :meth:`Warehouse.transaction` so it lands whole or not at all.

    The ingest log records rows *written* (new, changed, unchanged) next to the rows *read*, so
    a replay that changes nothing says so instead of repeating the first landing's numbers."""
    written = _upsert_observations(connection, batch.observations, landed_at)
    raw_written = _upsert_raw(connection, batch.raw_records, landed_at)
    quarantined = insert_quarantine(connection, batch.quarantine, landed_at)
    if batch.ingest_log:
        # replace on (batch_id, dataset) by DELETE + INSERT, not INSERT OR REPLACE: the same on
        # both backends (DuckLake has no keys); both run in the caller's transaction
        rows = [[r.batch_id, r.dataset, r.consumer_group, landed_at, r.messages, r.observations, r.quarantined,
                 r.dead_lettered, r.min_interval_utc, r.max_interval_utc, r.offsets, r.lag,
                 (w := written.get(r.dataset, Written())).new, w.changed, w.unchanged] for r in batch.ingest_log]
        connection.executemany("DELETE FROM ingest_log WHERE batch_id = ? AND dataset = ?",
                               [[row[0], row[1]] for row in rows])
        connection.executemany(
            """INSERT INTO ingest_log (batch_id, dataset, consumer_group, landed_at_utc, messages,
                   observations, quarantined, dead_lettered, min_interval_utc, max_interval_utc, offsets, lag,
                   observations_new, observations_changed, observations_unchanged)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""", rows)
    total = sum(w.new + w.changed for w in written.values())
    return LandingResult(total, raw_written, quarantined, written)


def _upsert_observations(connection: duckdb.DuckDBPyConnection, frame: pd.DataFrame,
                         landed_at: datetime) -> dict[str, Written]:
    """Upsert on (dataset, zone, quantity, interval_start_utc); returns, per dataset, the rows
    new, changed (value or status) and unchanged.

    ``frame`` must be unique on that key (the consumer de-duplicates records per batch).

    The version a changed row replaces is kept in ``observation_revisions`` (see
    :func:`_keep_superseded`), so the history of every value stays queryable.

    Not ``INSERT ... ON CONFLICT``: keeping an ART index over ~25 rows per provider record
    made landing 3-4x slower (benchmarks/README.md). Instead, only rows that are new or whose
    value/status changed are deleted and re-inserted. Lookups are restricted to the batch's
    time range, which DuckDB's zone maps prune to a few row groups, and skipped entirely when
    that range holds nothing yet (live data). Writers hold the warehouse's exclusive lock, so
    nothing interleaves; a replay finds nothing changed and writes nothing.
    """
    if frame.empty:
        return {}
    given = frame["dataset"].value_counts().to_dict()
    low, high = frame["interval_start_utc"].min(), frame["interval_start_utc"].max()
    datasets = sorted(frame["dataset"].unique())
    connection.register("incoming_observations", frame)
    try:
        overlapping = connection.execute("""
            SELECT count(*) FROM observations
            WHERE interval_start_utc BETWEEN $low AND $high AND list_contains($datasets, dataset)
        """, {"low": low, "high": high, "datasets": datasets}).fetchall()[0][0]
        if not overlapping:  # live data: nothing stored in this range yet
            _insert_observations(connection, "incoming_observations", landed_at)
            return {d: Written(new=int(n)) for d, n in given.items()}
        # keep only rows that are new or differ from what is stored
        connection.execute("CREATE OR REPLACE TEMP TABLE changed_observations AS FROM incoming_observations")
        connection.execute("""
            DELETE FROM changed_observations AS c USING (
                SELECT dataset, zone, quantity, interval_start_utc, value, status FROM observations
                WHERE interval_start_utc BETWEEN $low AND $high) AS current
            WHERE c.dataset = current.dataset AND c.zone = current.zone AND c.quantity = current.quantity
              AND c.interval_start_utc = current.interval_start_utc
              AND c.value IS NOT DISTINCT FROM current.value AND c.status IS NOT DISTINCT FROM current.status
        """, {"low": low, "high": high})
        counts = {d: (int(new), int(changed)) for d, new, changed in connection.execute("""
            SELECT c.dataset, count(*) FILTER (WHERE o.dataset IS NULL), count(*) FILTER (WHERE o.dataset IS NOT NULL)
            FROM changed_observations c LEFT JOIN (
                SELECT dataset, zone, quantity, interval_start_utc FROM observations
                WHERE interval_start_utc BETWEEN $low AND $high) AS o
              ON c.dataset = o.dataset AND c.zone = o.zone AND c.quantity = o.quantity
             AND c.interval_start_utc = o.interval_start_utc
            GROUP BY c.dataset""", {"low": low, "high": high}).fetchall()}
        changed = sum(new + updated for new, updated in counts.values())
        if changed:
            _keep_superseded(connection, low, high, landed_at)
            connection.execute("""
                DELETE FROM observations USING changed_observations AS c
                WHERE observations.interval_start_utc BETWEEN $low AND $high
                  AND observations.interval_start_utc = c.interval_start_utc
                  AND observations.dataset = c.dataset AND observations.zone = c.zone
                  AND observations.quantity = c.quantity
            """, {"low": low, "high": high})
            _insert_observations(connection, "changed_observations", landed_at)
        connection.execute("DROP TABLE changed_observations")
    finally:
        _unregister(connection, "incoming_observations")
    return {d: Written(new=counts.get(d, (0, 0))[0], changed=counts.get(d, (0, 0))[1],
                       unchanged=int(n) - sum(counts.get(d, (0, 0)))) for d, n in given.items()}


def _keep_superseded(connection: duckdb.DuckDBPyConnection, low: object, high: object,
                     landed_at: datetime) -> None:
    """Append the stored versions of the rows about to be replaced to ``observation_revisions``
    (superseded now), so a provider's revision adds to the history instead of erasing it.

    Only rows in ``changed_observations`` that already exist are copied: new rows have no
    earlier version, and a replay (nothing changed) never gets here."""
    connection.execute("""
        INSERT INTO observation_revisions
        SELECT o.dataset, o.zone, o.quantity, o.interval_start_utc, o.interval_minutes, o.value, o.unit,
               o.status, o.fetched_at_utc, o.kafka_partition, o.kafka_offset, o.landed_at_utc,
               $landed_at AS superseded_at_utc
        FROM observations o JOIN changed_observations c
          ON o.interval_start_utc = c.interval_start_utc AND o.dataset = c.dataset AND o.zone = c.zone
         AND o.quantity = c.quantity
        WHERE o.interval_start_utc BETWEEN $low AND $high
    """, {"low": low, "high": high, "landed_at": landed_at})


def _unregister(connection: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop a registered frame, even inside a failed transaction: there DuckDB refuses with
    "Current transaction is aborted", which would replace the real error in the traceback and
    the logs. The caller's ROLLBACK (``Warehouse.transaction``) cleans up either way."""
    try:
        connection.unregister(name)
    except duckdb.TransactionException:
        pass


def _insert_observations(connection: duckdb.DuckDBPyConnection, source: str, landed_at: datetime) -> None:
    connection.execute(f"""
        INSERT INTO observations
        SELECT dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit, status,
               fetched_at_utc, kafka_partition, kafka_offset, $landed_at
        FROM {source}
    """, {"landed_at": landed_at})


def _upsert_raw(connection: duckdb.DuckDBPyConnection, frame: pd.DataFrame, landed_at: datetime) -> int:
    """Upsert on (dataset, record_key); returns the records inserted or changed.

    When the batch's interval range holds no stored record of its datasets (live data, a first
    backfill) the records are appended as they are, relying on ``frame`` being unique on the key
    (``LandingBatch``): the MERGE, with its join against an empty range and the window that picks
    the newest duplicate, took 0.19 s of a 60,000-record batch against 0.08 s for the append
    (benchmarks/README.md, issue 11, ninth pass)."""
    if frame.empty:
        return 0
    # The key fixes the interval (record_key holds the parsed time), so a stored row with the same
    # key lies in the batch's interval range: restricting the match to it lets zone maps skip
    # most of the table instead of scanning every raw record (ON CONFLICT had an index for that).
    low, high = frame["interval_start_utc"].min(), frame["interval_start_utc"].max()
    in_range = ("r.interval_start_utc BETWEEN $low AND $high" if pd.notna(low) else "FALSE") + (
        " OR r.interval_start_utc IS NULL" if frame["interval_start_utc"].isna().any() else "")
    bounds = {"low": low, "high": high} if pd.notna(low) else {}
    incoming = """
        SELECT dataset, record_key, interval_start_utc, payload, fetched_at_utc,
               kafka_partition, kafka_offset, $landed_at AS landed_at_utc
        FROM incoming_raw"""
    newest = incoming + """
        QUALIFY row_number() OVER (
            PARTITION BY dataset, record_key
            ORDER BY fetched_at_utc DESC NULLS LAST, kafka_partition DESC, kafka_offset DESC) = 1"""
    connection.register("incoming_raw", frame)
    try:
        stored = connection.execute(f"""
            SELECT count(*) FROM raw_records AS r
            WHERE list_contains($datasets, r.dataset) AND ({in_range})
        """, {"datasets": sorted(frame["dataset"].unique()), **bounds}).fetchall()[0][0]
        if not stored:
            result = connection.execute(f"INSERT INTO raw_records BY NAME {incoming}",
                                        {"landed_at": landed_at}).fetchall()
        else:
            # MERGE, not INSERT ... ON CONFLICT: the same statement on both backends (DuckLake has
            # no keys); a record whose payload is unchanged is neither updated nor counted
            result = connection.execute(f"""
                MERGE INTO raw_records AS r
                USING ({newest}) AS excluded
                ON r.dataset = excluded.dataset AND r.record_key = excluded.record_key AND ({in_range})
                WHEN MATCHED AND r.payload::VARCHAR IS DISTINCT FROM excluded.payload::VARCHAR THEN UPDATE SET
                    payload = excluded.payload, interval_start_utc = excluded.interval_start_utc,
                    fetched_at_utc = excluded.fetched_at_utc, kafka_partition = excluded.kafka_partition,
                    kafka_offset = excluded.kafka_offset, landed_at_utc = excluded.landed_at_utc
                WHEN NOT MATCHED THEN INSERT BY NAME
            """, {"landed_at": landed_at, **bounds}).fetchall()
    finally:
        _unregister(connection, "incoming_raw")
    return int(result[0][0]) if result else 0


def insert_quarantine(connection: duckdb.DuckDBPyConnection, rows: list[QuarantineRow], at: datetime) -> int:
    """Keep rejected input with its reason; the same rejection seen twice is stored once."""
    if not rows:
        return 0
    frame = pd.DataFrame([{
        "source_id": r.source_id, "rule": r.rule, "quantity": r.quantity or "", "stage": r.stage,
        "dataset": r.dataset, "record_key": r.record_key, "zone": r.zone or "", "reason": r.reason,
        "payload": r.payload, "quarantined_at_utc": at,
        "interval_start_utc": pd.Timestamp(r.interval_start_utc) if r.interval_start_utc else pd.NaT} for r in rows])
    connection.register("incoming_quarantine", frame)
    try:
        connection.execute("""
            INSERT INTO quarantine BY NAME
            SELECT source_id, rule, quantity, stage, dataset, record_key, zone, reason, payload, quarantined_at_utc,
                   interval_start_utc::TIMESTAMP AS interval_start_utc
            FROM incoming_quarantine AS i
            WHERE NOT EXISTS (  -- an anti-join, not ON CONFLICT DO NOTHING: DuckLake has no keys
                SELECT 1 FROM quarantine q WHERE q.source_id = i.source_id AND q.rule = i.rule
                  AND q.quantity = i.quantity AND q.zone = i.zone)
            QUALIFY row_number() OVER (PARTITION BY source_id, rule, quantity, zone) = 1
        """)
    finally:
        _unregister(connection, "incoming_quarantine")
    return len(rows)
