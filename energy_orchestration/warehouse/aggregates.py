"""Aggregate SQL. One statement per build covers any range of hours, so a backfill of many
partitions is one DELETE + one INSERT rather than thousands of small runs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass(frozen=True)
class BuildStats:
    rows: int
    zones: int
    hours_with_data: int
    coverage_pct: float
    """Minutes present / minutes expected over all (zone, quantity, hour) rows built."""


def build_hourly(connection: duckdb.DuckDBPyConnection, start_utc: datetime, end_utc: datetime) -> BuildStats:
    """Replace ``agg_hourly`` for hours in ``[start_utc, end_utc)`` from ``observations``.

    Idempotent: rebuilding a partition gives the same rows. Call inside a transaction so
    readers never see the partition half-deleted.
    """
    connection.execute("DELETE FROM agg_hourly WHERE hour_start_utc >= ? AND hour_start_utc < ?",
                       [start_utc, end_utc])
    connection.execute("""
        INSERT INTO agg_hourly
        SELECT dataset, zone, quantity,
               date_trunc('hour', interval_start_utc)                          AS hour_start_utc,
               any_value(unit)                                                 AS unit,
               avg(value)                                                      AS mean_value,
               min(value)                                                      AS min_value,
               max(value)                                                      AS max_value,
               CASE WHEN any_value(unit) = 'MW'
                    THEN sum(value * interval_minutes) / 60.0 END              AS energy_mwh,
               sum(interval_minutes)::INTEGER                                  AS minutes_present,
               60                                                              AS minutes_expected,
               now()::TIMESTAMP                                                AS built_at_utc
        FROM observations
        WHERE interval_start_utc >= ? AND interval_start_utc < ?
        GROUP BY dataset, zone, quantity, hour_start_utc
    """, [start_utc, end_utc])
    row = connection.execute("""
        SELECT count(*), count(DISTINCT zone), count(DISTINCT hour_start_utc),
               coalesce(100.0 * sum(minutes_present) / nullif(sum(minutes_expected), 0), 0)
        FROM agg_hourly WHERE hour_start_utc >= ? AND hour_start_utc < ?
    """, [start_utc, end_utc]).fetchall()[0]
    return BuildStats(rows=int(row[0]), zones=int(row[1]), hours_with_data=int(row[2]), coverage_pct=float(row[3]))
