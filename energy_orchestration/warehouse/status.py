"""A human summary of the warehouse (`energy status`): what landed, what was refused, how fresh."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd

from energy_orchestration.markdown import markdown_preview
from energy_orchestration.model import utc_now
from energy_orchestration.streaming.health import describe as describe_landing
from energy_orchestration.streaming.health import read_health as read_landing_health
from energy_orchestration.warehouse.connection import Warehouse


def dataset_freshness(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per dataset: the newest interval landed, how old it is (by the platform clock, not SQL
    ``now()``, so a pinned clock agrees), when the consumer last landed a batch of it and the
    consumer lag then (messages behind, summed over partitions)."""
    return connection.execute("""
        WITH intervals AS (
            SELECT dataset, max(interval_start_utc) AS last_interval_utc FROM observations GROUP BY dataset
        ),
        batches AS (
            SELECT dataset, max(landed_at_utc) AS last_landed_utc, arg_max(lag, landed_at_utc) AS lag
            FROM ingest_log GROUP BY dataset
        )
        SELECT b.dataset, i.last_interval_utc,
               round(epoch($now::TIMESTAMP - i.last_interval_utc) / 60, 1) AS interval_age_minutes,
               b.last_landed_utc,
               (SELECT coalesce(sum(v::BIGINT), 0)::BIGINT
                  FROM (SELECT unnest(map_values(json_transform(b.lag, '"MAP(VARCHAR, BIGINT)"'))) AS v))
                   AS consumer_lag
        FROM batches b LEFT JOIN intervals i USING (dataset)
        WHERE b.dataset <> '(undecodable)'
        ORDER BY b.dataset
    """, {"now": utc_now().replace(tzinfo=None)}).df()


def staleness(live: bool, last_landed_utc: datetime | None, now: datetime, interval_minutes: int,
              stale_after_seconds: float) -> tuple[bool, float]:
    """Whether a dataset is stale, and after how many seconds without a landing it becomes so.

    The one freshness rule (the API's ``/freshness`` and the dashboard's banner use it): a live
    dataset is stale when nothing of it landed for ``max(ENERGY_API_STALE_AFTER_SECONDS, two of
    its intervals)`` — an éCO2mix quarter-hour set is not stale after 5 minutes. A dataset that is
    not fetched live is never stale (nothing is expected to land)."""
    after = max(stale_after_seconds, 2 * interval_minutes * 60)
    stale = live and (last_landed_utc is None or (now - last_landed_utc).total_seconds() > after)
    return stale, after


def warehouse_status(warehouse: Warehouse) -> str:
    """The report; raises :class:`~energy_orchestration.warehouse.WarehouseMissing` rather than
    creating an empty warehouse to describe."""
    with warehouse.connect(read_only=True) as connection:
        freshness = dataset_freshness(connection)
        landed = connection.execute("""
            SELECT dataset, zone, count(DISTINCT quantity) AS quantities, count(*) AS observations,
                   min(interval_start_utc) AS first_utc, max(interval_start_utc) AS last_utc,
                   count(DISTINCT interval_start_utc) AS intervals
            FROM observations GROUP BY ALL ORDER BY ALL
        """).df()
        duplicates = connection.execute("""
            SELECT count(*) FROM (SELECT 1 FROM observations
                                  GROUP BY dataset, zone, quantity, interval_start_utc HAVING count(*) > 1)
        """).fetchall()[0][0]
        refused = connection.execute("""
            SELECT stage, coalesce(dataset, '(undecodable)') AS dataset, rule, count(*) AS n
            FROM quarantine GROUP BY ALL ORDER BY ALL
        """).df()
        ingest = connection.execute("""
            SELECT dataset, count(*) AS batches, sum(messages)::BIGINT AS messages,
                   sum(observations)::BIGINT AS observations_read, sum(observations_new)::BIGINT AS new,
                   sum(observations_changed)::BIGINT AS changed, sum(observations_unchanged)::BIGINT AS unchanged,
                   max(landed_at_utc) AS last_landed_utc, arg_max(lag, landed_at_utc) AS last_lag
            FROM ingest_log GROUP BY ALL ORDER BY ALL
        """).df()
        # written counts are NULL for batches logged before they were recorded: blank, and never "6.0"
        ingest = ingest.astype({c: "Int64" for c in ("new", "changed", "unchanged")})
    landing = describe_landing(read_landing_health(warehouse.path), utc_now().replace(tzinfo=None))
    return "\n\n".join([
        f"# Warehouse {warehouse.location}",
        f"Landing: {'ok' if landing['ok'] else 'NOT OK'}: {landing['message']}",
        "## Freshness per dataset\n" + markdown_preview(freshness, "(nothing landed yet)"),
        "## Landed observations\n" + markdown_preview(landed, "(none yet)"),
        f"Duplicate natural keys: {duplicates}",
        "## Quarantine\n" + markdown_preview(refused, "(empty)"),
        "## Ingest log\n" + markdown_preview(ingest, "(empty)"),
    ])
