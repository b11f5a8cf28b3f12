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
from datetime import datetime, timedelta

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
