"""Self-healing: find missing intervals in a trailing window and re-fetch just those windows.

The re-fetch is an ordinary ``fetch_job`` run (same op, same Kafka path, same idempotent
landing); once its rows land, the landing sensor rebuilds the hours they belong to, which turns
the completeness checks green again without anyone stepping in.
"""


import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from energy_orchestration import settings
from energy_orchestration.ingest import floor_to
from energy_orchestration.model import utc_now
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.sensors.fetch import LIVE_DATASETS, fetch_job, raw_asset_key
from energy_orchestration.sources import DATASETS
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.completeness import (
    MissingWindow, completeness_summary, missing_intervals, missing_windows,
)

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
         hours: int | None = None) -> dict[str, tuple[pd.DataFrame, list[MissingWindow]]]:
    """Per dataset: the per-field summary and the unexplained missing windows of the trailing
    window (naive UTC)."""
    hours = hours or settings.get_int("ENERGY_GAP_REPAIR_HOURS")
    found: dict[str, tuple[pd.DataFrame, list[MissingWindow]]] = {}
    with warehouse.connect(read_only=True) as connection:
        for dataset in datasets or LIVE_DATASETS:
            end = due_end(dataset, now)
            missing = missing_intervals(connection, end - timedelta(hours=hours), end, [dataset])
            found[dataset] = (completeness_summary(missing), missing_windows(missing))
    return found


def check_evaluation(dataset: str, summary: pd.DataFrame, windows: list[MissingWindow]) -> dg.AssetCheckEvaluation:
    """The raw asset's completeness check as the scan sees it, so a gap turns the check red
    within one sensor interval instead of at the next scheduled check run."""
    missing = int(summary["missing"].sum()) if not summary.empty else 0
    return dg.AssetCheckEvaluation(
        asset_key=raw_asset_key(dataset), check_name="complete_trailing_window", passed=missing == 0,
        metadata={"missing_field_intervals": missing, "source": "gap_repair_sensor",
                  "windows": dg.MetadataValue.md("\n".join(
                      f"- [{w.start_utc:%Y-%m-%d %H:%M}, {w.end_utc:%H:%M}) UTC, {w.intervals} intervals"
                      for w in windows[:20]) or "none")})


def _split(window: MissingWindow) -> list[tuple[datetime, datetime]]:
    parts, start = [], window.start_utc
    while start < window.end_utc:
        parts.append((start, min(window.end_utc, start + MAX_WINDOW)))
        start = parts[-1][1]
    return parts


def evaluate_gap_repair(warehouse: Warehouse, cursor: str | None, now: datetime,
                        datasets: tuple[str, ...] | None = None
                        ) -> tuple[dg.RunRequest | dg.SkipReason, list[dg.AssetCheckEvaluation], str]:
    """The decision, the check evaluations to report, and the new cursor.

    Cursor: ``{"attempts": {"<dataset>@<start>/<end>": [attempts, last_attempt_iso]}, "failing":
    [datasets]}``: windows still missing, and datasets whose check was last reported failing
    (reported again while failing, and once when whole again).
    """
    state: dict = json.loads(cursor) if cursor else {}
    attempts_state: dict[str, list] = state.get("attempts", {})
    was_failing = set(state.get("failing", []))
    max_attempts = settings.get_int("ENERGY_GAP_REPAIR_MAX_ATTEMPTS")
    windows, given_up, waiting = [], [], 0
    current: dict[str, list] = {}
    evaluations, failing = [], []
    gaps = []
    for dataset, (summary, found) in scan(warehouse, now, datasets).items():
        if found:
            failing.append(dataset)
        if found or dataset in was_failing:
            evaluations.append(check_evaluation(dataset, summary, found))
        gaps.extend(found)
    for gap in gaps:
        for start, end in _split(gap):
            key = f"{gap.dataset}@{start.isoformat()}/{end.isoformat()}"
            attempts, last = attempts_state.get(key, [0, None])
            current[key] = [attempts, last]
            if attempts >= max_attempts:
                given_up.append(key)
            elif last and now - datetime.fromisoformat(last) < RETRY_AFTER:
                waiting += 1
            else:
                windows.append({"dataset": gap.dataset, "start": start.replace(tzinfo=timezone.utc).isoformat(),
                                "end": end.replace(tzinfo=timezone.utc).isoformat()})
                current[key] = [attempts + 1, now.isoformat()]
    new_cursor = json.dumps({"attempts": current, "failing": sorted(failing)}, sort_keys=True)
    if not windows:
        parts = ["no unexplained gaps" if not current else f"{waiting} gap windows being repaired"]
        if given_up:
            parts.append(f"gave up after {max_attempts} attempts on: {', '.join(sorted(given_up)[:10])}")
        return dg.SkipReason("; ".join(parts)), evaluations, new_cursor
    request = dg.RunRequest(
        run_key=None, job_name=fetch_job.name,
        run_config={"ops": {"fetch_and_publish_windows": {"config": {"windows": windows}}}},
        tags={"energy/reason": "gap repair", "energy/gap_windows": str(len(windows))})
    return request, evaluations, new_cursor


@dg.sensor(job=fetch_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description=("Every 5 minutes: scans the trailing ENERGY_GAP_REPAIR_HOURS for intervals that never "
                        "landed (per field; refused values excluded) and re-fetches just those windows."))
def gap_repair_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    decision, evaluations, cursor = evaluate_gap_repair(warehouse.get(), context.cursor, utc_now())
    if isinstance(decision, dg.SkipReason):
        return dg.SensorResult(skip_reason=decision, asset_events=evaluations, cursor=cursor)
    context.log.info(f"re-fetching {decision.tags['energy/gap_windows']} missing windows")
    return dg.SensorResult(run_requests=[decision], asset_events=evaluations, cursor=cursor)
