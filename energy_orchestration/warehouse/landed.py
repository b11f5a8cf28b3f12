"""What landed in a span of landing time: the landing sensor's view of the warehouse.

``landed_at_utc`` changes only when a value or status changes (see landing.py), so rows landed
since a moment are exactly the new, late and revised data: the hours to rebuild.
"""

from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pandas as pd

LATE_AFTER_MINUTES = 15
"""A row is *late* when it lands more than this long after its hour closed (after the hour's
aggregate was normally built)."""


def landed_hours(connection: duckdb.DuckDBPyConnection, after: datetime, through: datetime) -> pd.DataFrame:
    """Per dataset and UTC hour: rows, zones and late rows landed in ``(after, through]``."""
    return connection.execute(f"""
        SELECT dataset, date_trunc('hour', interval_start_utc) AS hour_start_utc,
               count(*) AS rows, count(DISTINCT zone) AS zones,
               string_agg(DISTINCT zone, ',' ORDER BY zone) AS zone_list,
               count(*) FILTER (WHERE landed_at_utc > date_trunc('hour', interval_start_utc)
                                    + INTERVAL 1 HOUR + INTERVAL {LATE_AFTER_MINUTES} MINUTE) AS late_rows,
               max(landed_at_utc) AS last_landed_utc
        FROM observations WHERE landed_at_utc > ? AND landed_at_utc <= ?
        GROUP BY ALL ORDER BY dataset, hour_start_utc
    """, [after, through]).df()


def landed_offsets(connection: duckdb.DuckDBPyConnection, after: datetime,
                   through: datetime) -> dict[str, dict[str, list[int]]]:
    """Per dataset, the Kafka offset range (first, last) per topic/partition of the batches landed."""
    merged: dict[str, dict[str, list[int]]] = {}
    for dataset, offsets in connection.execute("""
            SELECT dataset, offsets FROM ingest_log WHERE landed_at_utc > ? AND landed_at_utc <= ?
        """, [after, through]).fetchall():
        for position, (first, last) in json.loads(offsets or "{}").items():
            known = merged.setdefault(dataset, {}).setdefault(position, [first, last])
            known[0], known[1] = min(known[0], first), max(known[1], last)
    return merged
