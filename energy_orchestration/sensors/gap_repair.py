"""Self-healing: find missing intervals in a trailing window and re-fetch just those windows.

The re-fetch is an ordinary ``fetch_job`` run (same op, same Kafka path, same idempotent
landing); once its rows land, the landing sensor rebuilds the hours they belong to, which turns
the completeness checks green again without anyone stepping in.
"""


import json
from datetime import datetime, timedelta, timezone

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.ingest import floor_to
from energy_orchestration.model import utc_now
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.sensors.fetch import LIVE_DATASETS, fetch_job
from energy_orchestration.sources import DATASETS
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.completeness import MissingWindow, missing_intervals, missing_windows

RETRY_AFTER = timedelta(minutes=15)
"""A window re-fetched less than this long ago is left alone: its rows may still be landing."""
MAX_WINDOW = timedelta(hours=24)


LIVE_MARGIN = timedelta(minutes=5)
"""The newest intervals belong to the live fetch (which re-reads its last minutes anyway):
neither the checks nor the repairs count them as missing yet."""


def due_end(dataset: str, now: datetime) -> datetime:
    """The end of the intervals that should have landed by now (naive UTC): the provider has
    published them and the live fetch has had its chance."""
    spec = DATASETS[dataset]
    lag = timedelta(minutes=getattr(spec, "publication_lag_minutes", 0)) + LIVE_MARGIN
    return floor_to(now - lag, timedelta(minutes=spec.interval_minutes)).astimezone(timezone.utc).replace(tzinfo=None)


def scan(warehouse: Warehouse, now: datetime, datasets: tuple[str, ...] | None = None,
         hours: int | None = None) -> list[MissingWindow]:
    """Unexplained missing windows of each dataset in the trailing window (naive UTC)."""
    hours = hours or settings.get_int("ENERGY_GAP_REPAIR_HOURS")
    found: list[MissingWindow] = []
    with warehouse.connect(read_only=True) as connection:
        for dataset in datasets or LIVE_DATASETS:
            end = due_end(dataset, now)
            missing = missing_intervals(connection, end - timedelta(hours=hours), end, [dataset])
            found.extend(missing_windows(missing))
    return found


def _split(window: MissingWindow) -> list[tuple[datetime, datetime]]:
    parts, start = [], window.start_utc
    while start < window.end_utc:
        parts.append((start, min(window.end_utc, start + MAX_WINDOW)))
        start = parts[-1][1]
    return parts


def evaluate_gap_repair(warehouse: Warehouse, cursor: str | None, now: datetime,
                        datasets: tuple[str, ...] | None = None) -> tuple[dg.RunRequest | dg.SkipReason, str]:
    """Cursor: ``{"<dataset>@<start>/<end>": [attempts, last_attempt_iso]}`` for windows still missing."""
    state: dict[str, list] = json.loads(cursor) if cursor else {}
    max_attempts = settings.get_int("ENERGY_GAP_REPAIR_MAX_ATTEMPTS")
    windows, given_up, waiting = [], [], 0
    current: dict[str, list] = {}
    for gap in scan(warehouse, now, datasets):
        for start, end in _split(gap):
            key = f"{gap.dataset}@{start.isoformat()}/{end.isoformat()}"
            attempts, last = state.get(key, [0, None])
            current[key] = [attempts, last]
            if attempts >= max_attempts:
                given_up.append(key)
            elif last and now - datetime.fromisoformat(last) < RETRY_AFTER:
                waiting += 1
            else:
                windows.append({"dataset": gap.dataset, "start": start.replace(tzinfo=timezone.utc).isoformat(),
                                "end": end.replace(tzinfo=timezone.utc).isoformat()})
                current[key] = [attempts + 1, now.isoformat()]
    new_cursor = json.dumps(current, sort_keys=True)
    if not windows:
        parts = ["no unexplained gaps" if not current else f"{waiting} gap windows being repaired"]
        if given_up:
            parts.append(f"gave up after {max_attempts} attempts on: {', '.join(sorted(given_up)[:10])}")
        return dg.SkipReason("; ".join(parts)), new_cursor
    request = dg.RunRequest(
        run_key=None, job_name=fetch_job.name,
        run_config={"ops": {"fetch_and_publish_windows": {"config": {"windows": windows}}}},
        tags={"energy/reason": "gap repair", "energy/gap_windows": str(len(windows))})
    return request, new_cursor


@dg.sensor(job=fetch_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description=("Every 5 minutes: scans the trailing ENERGY_GAP_REPAIR_HOURS for intervals that never "
                        "landed (per field; refused values excluded) and re-fetches just those windows."))
def gap_repair_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    decision, cursor = evaluate_gap_repair(warehouse.get(), context.cursor, utc_now())
    if isinstance(decision, dg.SkipReason):
        return dg.SensorResult(skip_reason=decision, cursor=cursor)
    context.log.info(f"re-fetching {decision.tags['energy/gap_windows']} missing windows")
    return dg.SensorResult(run_requests=[decision], cursor=cursor)
