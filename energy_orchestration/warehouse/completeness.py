"""What is missing: landed intervals compared with the expected grid, per field.

A field is one (dataset, zone, quantity). The expected grid of a field is every interval of
its dataset's step in the window; which fields a dataset carries is read from the data itself
(every field it delivered in the window or the day before), so a row that lost one field is
caught even when its neighbours are complete. A field's grid starts at its first landed
interval when that is inside the window: the time before a source was first collected is not
a gap. A value refused by validation is not missing:
it sits in ``quarantine`` with its reason, so it counts as *explained* and is not re-fetched.

A dataset that delivered nothing at all for a day and the window is not seen here; that is
what freshness (last landed interval, lag) reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd

FIELD_LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class MissingWindow:
    """A contiguous run of missing intervals of one dataset: what a re-fetch should ask for."""

    dataset: str
    start_utc: datetime
    end_utc: datetime
    intervals: int


def missing_intervals(connection: duckdb.DuckDBPyConnection, start_utc: datetime, end_utc: datetime,
                      datasets: list[str] | None = None) -> pd.DataFrame:
    """Every expected (dataset, zone, quantity, interval) in ``[start_utc, end_utc)`` with no
    landed value, with ``explained`` True when quarantine holds the refused value."""
    dataset_filter = "AND dataset IN (SELECT unnest($datasets))" if datasets else ""
    params: dict[str, object] = {"start": start_utc, "end": end_utc, "lookback": start_utc - FIELD_LOOKBACK}
    if datasets:
        params["datasets"] = datasets
    return connection.execute(f"""
        WITH fields AS (
            SELECT dataset, zone, quantity, min(interval_minutes)::INTEGER AS step,
                   greatest(min(interval_start_utc), $start::TIMESTAMP) AS since
            FROM observations
            WHERE interval_start_utc >= $lookback AND interval_start_utc < $end {dataset_filter}
            GROUP BY ALL
        ),
        grid AS (
            SELECT f.dataset, f.zone, f.quantity, f.step, g.t AS interval_start_utc
            FROM fields f,
                 LATERAL generate_series(time_bucket(to_minutes(f.step), f.since),
                                         $end::TIMESTAMP - to_minutes(f.step), to_minutes(f.step)) AS g(t)
            WHERE g.t >= f.since
        ),
        landed AS (
            SELECT dataset, zone, quantity, interval_start_utc FROM observations
            WHERE interval_start_utc >= $start AND interval_start_utc < $end {dataset_filter}
        ),
        missing AS (
            SELECT * FROM grid ANTI JOIN landed USING (dataset, zone, quantity, interval_start_utc)
        )
        SELECT m.dataset, m.zone, m.quantity, m.step, m.interval_start_utc,
               EXISTS (SELECT 1 FROM quarantine q
                       WHERE q.dataset = m.dataset AND q.interval_start_utc = m.interval_start_utc
                         AND (q.zone = '' OR q.zone = m.zone) AND (q.quantity = '' OR q.quantity = m.quantity))
                   AS explained
        FROM missing m
        ORDER BY m.dataset, m.interval_start_utc, m.zone, m.quantity
    """, params).df()


def completeness_summary(missing: pd.DataFrame) -> pd.DataFrame:
    """Per field: missing intervals (unexplained), refused ones (explained), first and last gap."""
    if missing.empty:
        return pd.DataFrame(columns=["dataset", "zone", "quantity", "missing", "refused", "first_utc", "last_utc"])
    grouped = missing.assign(unexplained=~missing["explained"]).groupby(["dataset", "zone", "quantity"])
    return grouped.agg(missing=("unexplained", "sum"), refused=("explained", "sum"),
                       first_utc=("interval_start_utc", "min"),
                       last_utc=("interval_start_utc", "max")).reset_index().sort_values(
        ["missing", "dataset", "zone"], ascending=[False, True, True])


def missing_windows(missing: pd.DataFrame) -> list[MissingWindow]:
    """Merge unexplained missing intervals into contiguous windows per dataset (all zones and
    fields together, since a provider window re-fetches every field of its records)."""
    gaps = missing[~missing["explained"]] if not missing.empty else missing
    windows: list[MissingWindow] = []
    for dataset, rows in gaps.groupby("dataset") if not gaps.empty else []:
        step = timedelta(minutes=int(rows["step"].min()))
        times = sorted(set(pd.to_datetime(rows["interval_start_utc"]).dt.to_pydatetime()))
        start = previous = times[0]
        count = 1
        for moment in times[1:]:
            if moment - previous > step:
                windows.append(MissingWindow(str(dataset), start, previous + step, count))
                start, count = moment, 0
            previous = moment
            count += 1
        windows.append(MissingWindow(str(dataset), start, previous + step, count))
    return windows


def unlanded_keys(connection: duckdb.DuckDBPyConnection, dataset: str, keys: list[str]) -> list[str]:
    """The record keys of ``keys`` that are in the warehouse neither as landed records
    (``raw_records``) nor as records refused whole (``quarantine``, stage ``record``).

    Why: a broker's acknowledgement is not durability (a memory-only broker that dies loses
    what it acknowledged), so a backfill counts as done only when its records are here.
    """
    if not keys:
        return []
    published = pd.DataFrame({"record_key": list(dict.fromkeys(keys))})
    connection.register("published_keys", published)
    try:
        return [row[0] for row in connection.execute("""
            SELECT p.record_key FROM published_keys p
            WHERE NOT EXISTS (SELECT 1 FROM raw_records r WHERE r.dataset = $dataset AND r.record_key = p.record_key)
              AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.dataset = $dataset AND q.stage = 'record'
                                                          AND q.record_key = p.record_key)
            ORDER BY p.record_key
        """, {"dataset": dataset}).fetchall()]
    finally:
        connection.unregister("published_keys")


def landed_per_day(connection: duckdb.DuckDBPyConnection, datasets: list[str], first: date, last: date,
                   time_zone: str = "Europe/Paris") -> dict[tuple[str, date], int]:
    """Records in the warehouse per (dataset, local day) for days ``first .. last``: landed
    (``raw_records``) or refused whole with a reason (``quarantine``, stage ``record``).

    The history partitions are local days; a day's records are those whose interval starts
    in it. Days with nothing are absent from the answer.
    """
    rows = connection.execute("""
        WITH kept AS (
            SELECT dataset, record_key, interval_start_utc FROM raw_records
            WHERE dataset IN (SELECT unnest($datasets)) AND interval_start_utc >= $lo AND interval_start_utc < $hi
            UNION
            SELECT dataset, record_key, interval_start_utc FROM quarantine
            WHERE stage = 'record' AND dataset IN (SELECT unnest($datasets))
              AND interval_start_utc >= $lo AND interval_start_utc < $hi
        ),
        local AS (
            SELECT dataset, CAST(timezone($tz, timezone('UTC', interval_start_utc)) AS DATE) AS day FROM kept
        )
        SELECT dataset, day, count(*) FROM local WHERE day BETWEEN $first AND $last GROUP BY ALL
    """, {"tz": time_zone, "datasets": datasets, "first": first, "last": last,
          "lo": datetime.combine(first, datetime.min.time()) - timedelta(days=1),
          "hi": datetime.combine(last, datetime.min.time()) + timedelta(days=2)}).fetchall()
    return {(str(dataset), day): int(count) for dataset, day, count in rows}
