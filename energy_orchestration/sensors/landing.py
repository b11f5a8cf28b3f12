"""From landed rows to fresh aggregates, with nothing rebuilt that did not change.

``landing_sensor`` reads what the consumer landed since its cursor, reports it as hourly
materialisations of the raw assets (rows, zones, Kafka offsets, late rows) and requests
``zone_hourly`` for exactly the closed hours that received new, late or revised rows.
``rollup_sensor`` follows ``zone_hourly`` materialisations up to the local days, and
``zone_daily`` ones up to weeks and months. Ranges become single runs (one SQL statement).
"""


import json
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import dagster as dg

from energy_orchestration.assets.aggregates import PERIOD_JOBS, zone_hourly_job
from energy_orchestration.assets.keys import ZONE_DAILY_KEY, ZONE_HOURLY_KEY, raw_asset_key
from energy_orchestration.assets.partitions import DAILY, HOURLY, MONTHLY, RAW_HOURLY, WEEKLY, hour_key, hour_start_utc
from energy_orchestration.model import ZONE_TIME_ZONES, utc_now
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.landed import landed_hours, landed_offsets

SETTLE = timedelta(seconds=30)
"""Only rows landed at least this long ago are read: a consumer transaction stamps its rows
with its start time, so a younger stamp may still be uncommitted."""
HOUR_SETTLE = timedelta(minutes=12)
"""A live hour is built this long after it ends, once every dataset's last interval of it has
been published (éCO2mix: 15-minute steps, 10 minutes' lag) — one build per hour instead of one
per arriving dataset. Rows landing later still rebuild it."""
INITIAL_LOOKBACK = timedelta(hours=24)
"""How far back the very first tick looks; older history is the backfill's job."""
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
"""Dagster's tags for a run over a partition range (what a single-run backfill launches)."""


def contiguous_ranges(keys: Iterable[str], partitions_def: dg.TimeWindowPartitionsDefinition) -> list[tuple[str, str]]:
    """Sorted partition keys grouped into runs of neighbours, so each run is one single-run backfill."""
    windows = sorted((partitions_def.time_window_for_partition_key(k), k) for k in set(keys))
    ranges: list[tuple[str, str]] = []
    for window, key in windows:
        if ranges and partitions_def.time_window_for_partition_key(ranges[-1][1]).end == window.start:
            ranges[-1] = (ranges[-1][0], key)
        else:
            ranges.append((key, key))
    return ranges


def range_request(job_name: str, first: str, last: str, reason: str) -> dg.RunRequest:
    tags = {"energy/reason": reason}
    if first == last:
        return dg.RunRequest(job_name=job_name, partition_key=first, tags=tags, run_key=None)
    return dg.RunRequest(job_name=job_name, run_key=None, tags={
        **tags, RANGE_START_TAG: first, RANGE_END_TAG: last})


def _existing(keys: Iterable[str], partitions_def: dg.TimeWindowPartitionsDefinition, now: datetime) -> list[str]:
    """The keys that are partitions at ``now``: not before the start, and ended by ``now`` (or,
    with ``end_offset=1``, begun by it). Compared by window, because listing every key since the
    start costs ~0.1 s per call."""
    if partitions_def.end_offset not in (0, 1):
        raise ValueError("only end offsets 0 and 1 are used here")
    now = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    found = []
    for key in keys:
        window = partitions_def.time_window_for_partition_key(key)
        current = window.start <= now if partitions_def.end_offset == 1 else window.end <= now
        if window.start >= partitions_def.start and current:
            found.append(key)
    return found


def evaluate_landing(warehouse: Warehouse, cursor: str | None, now: datetime, settle: timedelta = SETTLE
                     ) -> tuple[list[dg.AssetMaterialization], list[dg.RunRequest], str]:
    """One tick: materialisations to report, runs to request, and the new cursor.

    Cursor: ``{"through": iso, "pending": [hour keys]}``: rows are read up to ``through``;
    pending hours received rows while still open and are built once they have been closed for
    :data:`HOUR_SETTLE`.
    """
    state = json.loads(cursor) if cursor else {}
    naive_now = now.astimezone(timezone.utc).replace(tzinfo=None)
    through = naive_now - settle
    after = datetime.fromisoformat(state["through"]) if "through" in state else through - INITIAL_LOOKBACK
    with warehouse.connect(read_only=True) as connection:
        hours = landed_hours(connection, after, through)
        offsets = landed_offsets(connection, after, through)
    keys = {hour_key(h) for h in hours["hour_start_utc"].unique()} if not hours.empty else set()
    raw_keys = set(_existing(keys, RAW_HOURLY, now))
    events = []
    for row in hours.itertuples(index=False):
        key = hour_key(row.hour_start_utc)
        if key not in raw_keys:
            continue  # before ENERGY_PARTITIONS_START
        events.append(dg.AssetMaterialization(
            asset_key=raw_asset_key(row.dataset), partition=key,
            description=f"{row.rows} rows landed for {row.zones} zones",
            metadata={"rows": int(row.rows), "zones": dg.MetadataValue.text(row.zone_list),
                      "late_rows": int(row.late_rows), "last_landed_utc": str(row.last_landed_utc),
                      "kafka_offsets": dg.MetadataValue.json(offsets.get(row.dataset, {}))}))
    touched = keys | set(state.get("pending", []))
    closed = set(_existing(touched, HOURLY, now - HOUR_SETTLE))
    still_open = sorted(set(_existing(touched - closed, RAW_HOURLY, now)))
    requests = [range_request(zone_hourly_job.name, first, last, "rows landed")
                for first, last in contiguous_ranges(closed, HOURLY)]
    return events, requests, json.dumps({"through": through.isoformat(), "pending": still_open})


LANDING_INTERVAL_SECONDS = 60
"""Landed rows are reported as raw materialisations within this interval plus :data:`SETTLE`
(90 s; 60 s with the 30 s interval before: each evaluation costs the idle stack CPU,
benchmarks/README.md). The raw assets' freshness policies are minutes wide (the tightest warns
after 5 minutes) and an hour is built only 12 minutes after it closes, so 30 s more is inside both."""

ROLLUP_INTERVAL_SECONDS = 120
"""Days, weeks and months follow rebuilt hours within two minutes (60 s before; same reason)."""


@dg.sensor(minimum_interval_seconds=LANDING_INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           jobs=[zone_hourly_job],
           description=("Reports landed rows as hourly raw materialisations and rebuilds exactly the closed "
                        "hours of zone_hourly that received new, late or revised rows."))
def landing_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    events, requests, cursor = evaluate_landing(warehouse.get(), context.cursor, utc_now())
    if not events and not requests:
        return dg.SensorResult(skip_reason="nothing landed since the last tick", cursor=cursor)
    return dg.SensorResult(asset_events=events, run_requests=requests, cursor=cursor)


def local_days_of_hours(hour_keys: Iterable[str]) -> set[str]:
    """Local dates (of every zone's time zone) that the given UTC hours fall in."""
    zones = {ZoneInfo(name) for name in set(ZONE_TIME_ZONES.values())}
    days = set()
    for key in hour_keys:
        start = hour_start_utc(key).replace(tzinfo=timezone.utc)
        days.update(start.astimezone(tz).strftime("%Y-%m-%d") for tz in zones)
    return days


def periods_of_days(day_keys: Iterable[str], partitions_def: dg.TimeWindowPartitionsDefinition,
                    now: datetime) -> set[str]:
    """Keys of the week or month partitions containing the given local days."""
    found = {partitions_def.get_partition_key_for_timestamp(DAILY.time_window_for_partition_key(key).start.timestamp())
             for key in day_keys}
    return set(_existing(found, partitions_def, now))  # drops the week begun before the first partition


def _new_partitions(instance: dg.DagsterInstance, key: dg.AssetKey, after: int) -> tuple[set[str], int]:
    records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, after_storage_id=after),
                                              limit=10_000, ascending=True).records
    partitions = {r.partition_key for r in records if r.partition_key}
    return partitions, max([after, *(r.storage_id for r in records)])  # the rest, if any, next tick


def evaluate_rollup(instance: dg.DagsterInstance, cursor: str | None, now: datetime
                    ) -> tuple[list[dg.RunRequest], str]:
    """Cursor: last seen event storage id of zone_hourly and zone_daily materialisations."""
    state = json.loads(cursor) if cursor else {}
    hours, hourly_seen = _new_partitions(instance, ZONE_HOURLY_KEY, state.get("hourly", 0))
    days, daily_seen = _new_partitions(instance, ZONE_DAILY_KEY, state.get("daily", 0))
    requests = []
    for first, last in contiguous_ranges(_existing(local_days_of_hours(hours), DAILY, now), DAILY):
        requests.append(range_request(PERIOD_JOBS["daily"].name, first, last, "hours rebuilt"))
    for grain, partitions_def in (("weekly", WEEKLY), ("monthly", MONTHLY)):
        for first, last in contiguous_ranges(periods_of_days(days, partitions_def, now), partitions_def):
            requests.append(range_request(PERIOD_JOBS[grain].name, first, last, "days rebuilt"))
    return requests, json.dumps({"hourly": hourly_seen, "daily": daily_seen})


@dg.sensor(minimum_interval_seconds=ROLLUP_INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           jobs=list(PERIOD_JOBS.values()),
           description=("Rebuilds the local days whose hours were rebuilt, and the weeks and months whose days "
                        "were: late or revised data refreshes exactly the partitions it touches."))
def rollup_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    requests, cursor = evaluate_rollup(context.instance, context.cursor, utc_now())
    if not requests:
        return dg.SensorResult(skip_reason="no hourly or daily partition rebuilt since the last tick", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
