"""Self-healing: find missing intervals in a trailing window and re-fetch just those windows.

The re-fetch is an ordinary ``fetch_job`` run (same op, same Kafka path, same idempotent
landing); once its rows land, the landing sensor rebuilds the hours they belong to, which turns
the completeness checks green again without anyone stepping in.

Backfilled days are watched too, however old: each history materialization says how many
records it fetched per day; a day with fewer records in the warehouse than that is re-fetched
like a trailing gap (an acknowledgement by a memory-only broker is not a landing).
"""


import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from energy_orchestration import settings
from energy_orchestration.assets.history import HISTORY_DATASETS, day_window_utc
from energy_orchestration.assets.keys import LIVE_DATASETS, history_asset_key, raw_asset_key
from energy_orchestration.ingest import Window, cut_windows, due_end
from energy_orchestration.model import utc_now
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.sensors.fetch import fetch_job, fetch_run_config
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.completeness import (
    MissingWindow,
    completeness_summary,
    landed_per_day,
    missing_intervals,
    missing_windows,
)

RETRY_AFTER = timedelta(minutes=15)
"""A window re-fetched less than this long ago is left alone: its rows may still be landing."""
MAX_WINDOW = timedelta(hours=24)


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


BACKFILL_WATCH = timedelta(days=7)
"""A backfilled day not whole in the warehouse is watched (and re-fetched) for this long."""


@dataclass(frozen=True)
class Backfilled:
    """One history partition as materialized: the records its run fetched for that local day."""

    dataset: str
    day: date
    fetched: int


def backfilled_since(instance: dg.DagsterInstance, after_storage_id: int) -> tuple[list[Backfilled], int]:
    """History materializations recorded after ``after_storage_id``, and the newest storage id."""
    found: list[Backfilled] = []
    newest = after_storage_id
    for dataset in HISTORY_DATASETS:
        cursor = None
        while True:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=history_asset_key(dataset), after_storage_id=after_storage_id),
                limit=1000, cursor=cursor, ascending=True)
            for record in result.records:
                newest = max(newest, record.storage_id)
                materialization = record.asset_materialization
                per_day = materialization.metadata.get("records_per_day") if materialization else None
                fetched = per_day.value.get(materialization.partition) if per_day is not None else None
                if fetched:
                    found.append(Backfilled(dataset, date.fromisoformat(materialization.partition), int(fetched)))
            if not result.has_more:
                break
            cursor = result.cursor
    return found, newest


def backfill_gaps(warehouse: Warehouse, watched: dict[str, list]) -> tuple[list[MissingWindow], set[str]]:
    """Backfilled days with fewer records in the warehouse than their run fetched, as whole-day
    windows (naive UTC), and the watch keys (``dataset|day``) now whole."""
    if not watched:
        return [], set()
    wanted = {key: (key.split("|")[0], date.fromisoformat(key.split("|")[1]), int(value[0]))
              for key, value in watched.items()}
    days = [day for _, day, _ in wanted.values()]
    with warehouse.connect(read_only=True) as connection:
        kept = landed_per_day(connection, sorted({d for d, _, _ in wanted.values()}), min(days), max(days))
    gaps, whole = [], set()
    for key, (dataset, day, fetched) in sorted(wanted.items()):
        have = kept.get((dataset, day), 0)
        if have >= fetched:
            whole.add(key)
            continue
        start, end = day_window_utc(day)
        gaps.append(MissingWindow(dataset, start.replace(tzinfo=None), end.replace(tzinfo=None), fetched - have))
    return gaps, whole


def evaluate_gap_repair(warehouse: Warehouse, cursor: str | None, now: datetime,
                        datasets: tuple[str, ...] | None = None, backfilled: list[Backfilled] | None = None,
                        history_storage_id: int | None = None,
                        ) -> tuple[dg.RunRequest | dg.SkipReason, list[dg.AssetCheckEvaluation], str]:
    """The decision, the check evaluations to report, and the new cursor.

    Cursor: ``{"attempts": {"<dataset>@<start>/<end>": [attempts, last_attempt_iso]}, "failing":
    [datasets], "backfills": {"<dataset>|<day>": [fetched, watch_until_iso]}, "history_storage_id": n}``:
    windows still missing, datasets whose check was last reported failing (reported again while
    failing, and once when whole again), and backfilled days not yet whole in the warehouse.
    """
    state: dict = json.loads(cursor) if cursor else {}
    watched: dict[str, list] = {key: value for key, value in state.get("backfills", {}).items()
                                if datetime.fromisoformat(value[1]) > now}
    for item in backfilled or []:
        watched[f"{item.dataset}|{item.day}"] = [item.fetched, (now + BACKFILL_WATCH).isoformat()]
    backfill_found, whole = backfill_gaps(warehouse, watched)
    watched = {key: value for key, value in watched.items() if key not in whole}
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
    gaps.extend(backfill_found)
    for gap in gaps:
        for part in cut_windows(gap.dataset, gap.start_utc, gap.end_utc, MAX_WINDOW):
            start, end = part.start, part.end
            key = f"{gap.dataset}@{start.isoformat()}/{end.isoformat()}"
            attempts, last = attempts_state.get(key, [0, None])
            current[key] = [attempts, last]
            if attempts >= max_attempts:
                given_up.append(key)
            elif last and now - datetime.fromisoformat(last) < RETRY_AFTER:
                waiting += 1
            else:
                windows.append(Window(gap.dataset, start.replace(tzinfo=timezone.utc),
                                      end.replace(tzinfo=timezone.utc)))
                current[key] = [attempts + 1, now.isoformat()]
    new_state: dict = {"attempts": current, "failing": sorted(failing)}
    if watched:
        new_state["backfills"] = watched
    storage_id = history_storage_id if history_storage_id is not None else state.get("history_storage_id")
    if storage_id:
        new_state["history_storage_id"] = storage_id
    new_cursor = json.dumps(new_state, sort_keys=True)
    if not windows:
        parts = ["no unexplained gaps" if not current else f"{waiting} gap windows being repaired"]
        if given_up:
            parts.append(f"gave up after {max_attempts} attempts on: {', '.join(sorted(given_up)[:10])}")
        return dg.SkipReason("; ".join(parts)), evaluations, new_cursor
    request = dg.RunRequest(
        run_key=None, job_name=fetch_job.name,
        run_config=fetch_run_config(windows),
        tags={"energy/reason": "gap repair", "energy/gap_windows": str(len(windows))})
    return request, evaluations, new_cursor


@dg.sensor(job=fetch_job, minimum_interval_seconds=300, default_status=dg.DefaultSensorStatus.RUNNING,
           description=("Every 5 minutes: scans the trailing ENERGY_GAP_REPAIR_HOURS for intervals that never "
                        "landed (per field; refused values excluded) and backfilled days with fewer records in "
                        "the warehouse than their history run fetched, and re-fetches just those windows."))
def gap_repair_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    seen = (json.loads(context.cursor) if context.cursor else {}).get("history_storage_id", 0)
    backfilled, newest = backfilled_since(context.instance, seen)
    decision, evaluations, cursor = evaluate_gap_repair(warehouse.get(), context.cursor, utc_now(),
                                                        backfilled=backfilled, history_storage_id=newest)
    if isinstance(decision, dg.SkipReason):
        return dg.SensorResult(skip_reason=decision, asset_events=evaluations, cursor=cursor)
    context.log.info(f"re-fetching {decision.tags['energy/gap_windows']} missing windows")
    return dg.SensorResult(run_requests=[decision], asset_events=evaluations, cursor=cursor)
