"""The minute sensor and the fetch job it launches (a thin shell over :mod:`ingest`).

Gap-freedom rests on one rule: a dataset's cursor (``acked_until``) moves only when a run
reports that every record of a window was acknowledged by the broker. The run reports it as a
run tag; the sensor folds those tags into its cursor on the next tick. A failed run reports
nothing, so the next window starts where the last acknowledged one ended.
"""


import json
from datetime import datetime, timedelta

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.assets.keys import LIVE_DATASETS, raw_asset_key
from energy_orchestration.ingest import (
    Window,
    WindowPolicy,
    describe,
    estimated_requests,
    fetch_and_publish,
    plan_window,
)
from energy_orchestration.model import utc_now
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.sources import DATASETS

ACKED_TAG_PREFIX = "energy/acked_until/"
DATASETS_TAG = "energy/datasets"


DAILY_BUDGET_SETTINGS = {"odre": "ENERGY_ODRE_DAILY_REQUEST_BUDGET"}
"""Providers with a daily request quota, and the setting holding our share of it."""


class WindowConfig(dg.Config):
    dataset: str
    start: str  # ISO-8601 UTC
    end: str


class FetchConfig(dg.Config):
    windows: list[WindowConfig]


@dg.op(description="Fetch each due window from its provider and publish every record to Kafka.")
def fetch_and_publish_windows(context: dg.OpExecutionContext, config: FetchConfig,
                              energidataservice: EnergiDataServiceResource, odre: OdreResource,
                              kafka: KafkaResource, warehouse: WarehouseResource) -> None:
    clients = {"energidataservice": energidataservice.client, "odre": odre.client}
    failures: list[str] = []
    for item in config.windows:
        window = Window(item.dataset, datetime.fromisoformat(item.start), datetime.fromisoformat(item.end))
        try:
            client = clients[DATASETS[window.dataset].provider]()
            outcome = fetch_and_publish(client, kafka.servers(), window, warehouse.get())
        except Exception as exc:  # one dataset failing must not stop the others
            context.log.error(f"{window}: {type(exc).__name__}: {exc}")
            failures.append(f"{window}: {exc}")
            continue
        context.log.info(describe(outcome))
        if outcome.acked_until is not None:
            context.instance.add_run_tags(context.run_id,
                                          {ACKED_TAG_PREFIX + window.dataset: outcome.acked_until.isoformat()})
        context.log_event(dg.AssetObservation(asset_key=raw_asset_key(window.dataset), metadata={
            "window_start": item.start, "window_end": item.end, "fetched": outcome.fetched,
            "published": outcome.published, "note": outcome.note}))
    if failures:
        raise dg.Failure(f"{len(failures)} of {len(config.windows)} windows failed; the next tick retries them",
                         metadata={"failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures))})


# No run retries (dagster.yaml enables them for crashed workers): the next tick re-covers a
# failed run's window, so a retry would only spend provider requests twice.
# A maximum runtime, because a fetch run whose process vanished (its code server was killed
# mid-run) would otherwise stay STARTED for ever and hold the one fetch slot: run monitoring
# cancels it after FETCH_MAX_RUNTIME_SECONDS, and after `cancel_timeout_seconds` (dagster.yaml)
# marks it canceled, so live fetching resumes from the unmoved cursor (no gap).
FETCH_MAX_RUNTIME_SECONDS = 900


@dg.job(executor_def=dg.in_process_executor,
        tags={"energy/kind": "fetch", "dagster/max_retries": "0",
              "dagster/max_runtime": str(FETCH_MAX_RUNTIME_SECONDS)},
        description="One run per sensor tick: fetch the due windows of every live dataset and publish them.")
def fetch_job() -> None:
    fetch_and_publish_windows()


def fetch_run_config(windows: list[Window]) -> dict:
    """The ``fetch_job`` run config for some windows: the live sensor and gap repair both launch it."""
    return {"ops": {"fetch_and_publish_windows": {"config": {"windows": [
        {"dataset": w.dataset, "start": w.start.isoformat(), "end": w.end.isoformat()} for w in windows]}}}}


def window_policy() -> WindowPolicy:
    return WindowPolicy(overlap=timedelta(minutes=settings.get_int("ENERGY_FETCH_OVERLAP_MINUTES")),
                        initial_lookback=timedelta(minutes=settings.get_int("ENERGY_FETCH_INITIAL_LOOKBACK_MINUTES")),
                        max_window=timedelta(minutes=settings.get_int("ENERGY_FETCH_MAX_WINDOW_MINUTES")))


IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


def evaluate_fetch_sensor(instance: dg.DagsterInstance, cursor: str | None, now: datetime,
                          datasets: tuple[str, ...] | None = None,
                          policy: WindowPolicy | None = None) -> tuple[dg.RunRequest | dg.SkipReason, str]:
    """What one tick decides, and the new cursor. Plain function so tests can drive the clock.

    Cursor: ``{"acked": {dataset: iso}, "spent": {"day": "YYYY-MM-DD", provider: requests}}``.
    """
    state = json.loads(cursor) if cursor else {}
    acked: dict[str, str] = dict(state.get("acked", {}))
    today = now.strftime("%Y-%m-%d")
    spent: dict[str, object] = state.get("spent", {}) if state.get("spent", {}).get("day") == today else {"day": today}
    recent = instance.get_run_records(dg.RunsFilter(job_name=fetch_job.name), limit=50)
    for record in recent:
        for key, value in record.dagster_run.tags.items():
            if key.startswith(ACKED_TAG_PREFIX):
                dataset = key[len(ACKED_TAG_PREFIX):]
                if dataset not in acked or value > acked[dataset]:
                    acked[dataset] = value
    stale_before = now - timedelta(minutes=10)  # a run stuck longer than that no longer blocks ticks
    if any(r.dagster_run.status in IN_FLIGHT and r.create_timestamp > stale_before for r in recent):
        return (dg.SkipReason("previous fetch run still in flight; its window is re-covered next tick"),
                _cursor(acked, spent))
    policy = policy or window_policy()
    windows, over_budget = [], []
    for dataset in datasets or LIVE_DATASETS:
        last = datetime.fromisoformat(acked[dataset]) if dataset in acked else None
        window = plan_window(dataset, now, last, policy)
        if window is None:
            continue
        provider = DATASETS[dataset].provider
        if provider in DAILY_BUDGET_SETTINGS:
            cost = estimated_requests(window)
            if int(spent.get(provider, 0)) + cost > settings.get_int(DAILY_BUDGET_SETTINGS[provider]):  # type: ignore[arg-type]
                over_budget.append(dataset)
                continue
            spent[provider] = int(spent.get(provider, 0)) + cost  # type: ignore[arg-type]
        windows.append(window)
    if not windows:
        reason = (f"daily request budget used up for {', '.join(over_budget)}" if over_budget
                  else "no dataset has a new interval yet")
        return dg.SkipReason(reason), _cursor(acked, spent)
    run_key = "fetch:" + ",".join(f"{w.dataset}@{w.end.isoformat()}" for w in windows)
    request = dg.RunRequest(
        run_key=run_key,
        run_config=fetch_run_config(windows),
        tags={DATASETS_TAG: ",".join(w.dataset for w in windows)})
    return request, _cursor(acked, spent)


def _cursor(acked: dict[str, str], spent: dict[str, object]) -> str:
    return json.dumps({"acked": acked, "spent": spent}, sort_keys=True)


@dg.sensor(job=fetch_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING,
           description="Every minute: launch one run fetching every live dataset's due window into Kafka.")
def fetch_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    decision, cursor = evaluate_fetch_sensor(context.instance, context.cursor, utc_now())
    if isinstance(decision, dg.SkipReason):
        return dg.SensorResult(skip_reason=decision, cursor=cursor)
    return dg.SensorResult(run_requests=[decision], cursor=cursor)

