"""The minute sensor, which fetches live data inside its own tick, and ``fetch_job`` (a thin
shell over :mod:`ingest`) for repairs and manual runs.

Gap-freedom rests on one rule: a dataset's cursor (``acked_until``) moves only when every record
of a window was acknowledged by the broker. The live sensor fetches and publishes in the warm
code server (no run process per minute) and moves its cursor itself, within a per-tick time
budget; a ``fetch_job`` run reports its acknowledgement as a run tag, which the sensor folds into
its cursor on the next tick. A failed window reports nothing, so the next window starts where the
last acknowledged one ended.
"""


import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.assets.keys import LIVE_DATASETS, history_asset_key, raw_asset_key
from energy_orchestration.ingest import (
    TickOutcome,
    Window,
    WindowPolicy,
    describe,
    estimated_requests,
    fetch_and_publish,
    fetch_windows_within,
    plan_window,
)
from energy_orchestration.model import utc_now
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.contract import SourceClient
from energy_orchestration.warehouse import Warehouse

ACKED_TAG_PREFIX = "energy/acked_until/"


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
        description="Fetch given windows and publish them (gap repair, manual re-fetches); the live minute fetch "
                    "runs inside fetch_sensor's tick instead.")
def fetch_job() -> None:
    fetch_and_publish_windows()


def fetch_run_config(windows: list[Window]) -> dict:
    """The ``fetch_job`` run config for some windows (gap repair launches it; also for manual runs)."""
    return {"ops": {"fetch_and_publish_windows": {"config": {"windows": [
        {"dataset": w.dataset, "start": w.start.isoformat(), "end": w.end.isoformat()} for w in windows]}}}}


def window_policy() -> WindowPolicy:
    return WindowPolicy(overlap=timedelta(minutes=settings.get_int("ENERGY_FETCH_OVERLAP_MINUTES")),
                        initial_lookback=timedelta(minutes=settings.get_int("ENERGY_FETCH_INITIAL_LOOKBACK_MINUTES")),
                        max_window=timedelta(minutes=settings.get_int("ENERGY_FETCH_MAX_WINDOW_MINUTES")))


IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED]


HISTORY_DEFERS_LIVE_MINUTES = 60
"""A history run older than this no longer defers the live fetch of its dataset (a run stuck in
STARTED must not stop live data for good; run monitoring fails vanished runs long before)."""


def datasets_in_history_runs(instance: dg.DagsterInstance) -> dict[str, str]:
    """Live datasets a history run (a backfill) is fetching right now, each with that run's id.

    Why: Energi Data Service allows one request per dataset per minute per IP and the live fetch
    spends all of it, so a backfill racing the minute tick for the same dataset kept losing
    (HTTP 429 four times, run failed; seen in the production-profile e2e test). While the
    backfill runs, the live fetch of that dataset waits; its cursor does not move, so the first
    tick after the run fetches the whole gap in one request."""
    since = time.time() - HISTORY_DEFERS_LIVE_MINUTES * 60  # run ages are wall-clock, like Dagster's timestamps
    records = instance.get_run_records(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTING,
                                                               dg.DagsterRunStatus.STARTED]), limit=100)
    busy: dict[str, str] = {}
    for record in records:
        if record.create_timestamp.timestamp() < since:
            continue
        selection = record.dagster_run.asset_selection or frozenset()
        for dataset in LIVE_DATASETS:
            if history_asset_key(dataset) in selection:
                busy.setdefault(dataset, record.dagster_run.run_id)
    return busy


def plan_fetch(instance: dg.DagsterInstance, cursor: str | None, now: datetime,
               datasets: tuple[str, ...] | None = None,
               policy: WindowPolicy | None = None,
               deferred: dict[str, str] | None = None) -> tuple[list[Window] | dg.SkipReason, dict[str, str],
                                                               dict[str, object]]:
    """Which windows one tick fetches (or why none), with the acknowledged ends and the requests spent.

    Cursor: ``{"acked": {dataset: iso}, "spent": {"day": "YYYY-MM-DD", provider: requests}}``.
    Acknowledgements of ``fetch_job`` runs (manual runs, repairs) are folded in from their run tags.
    ``deferred`` datasets (:func:`datasets_in_history_runs`) are left for a later tick.
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
        return (dg.SkipReason("a fetch_job run is in flight; its window is re-covered next tick"), acked, spent)
    policy = policy or window_policy()
    windows, over_budget = [], []
    for dataset in datasets or LIVE_DATASETS:
        if deferred and dataset in deferred:
            continue
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
        reasons = ([f"daily request budget used up for {', '.join(over_budget)}"] if over_budget else []) + (
            [deferral_note(deferred)] if deferred else [])
        reason = "; ".join(reasons) or "no dataset has a new interval yet"
        return dg.SkipReason(reason), acked, spent
    return windows, acked, spent


def deferral_note(deferred: dict[str, str]) -> str:
    return "waiting for history runs to finish: " + ", ".join(
        f"{dataset} (run {run_id[:8]})" for dataset, run_id in sorted(deferred.items()))


@dataclass(frozen=True)
class FetchTick:
    """What one live tick did: the new cursor, and either why it fetched nothing or what it fetched."""

    cursor: str
    skip_reason: str | None = None
    outcome: TickOutcome | None = None
    deferred: dict[str, str] | None = None
    """Datasets left to a running history run (:func:`datasets_in_history_runs`)."""

    def asset_events(self) -> list[dg.AssetObservation]:
        """One observation on ``raw/<dataset>`` per window: fetched, failed or left for the next tick."""
        if self.outcome is None:
            return []
        events = [_observation(o.window, status="published" if o.acked_until else "not_yet_published",
                               fetched=o.fetched, published=o.published, note=o.note) for o in self.outcome.outcomes]
        events += [_observation(w, status="failed", error=why[:1000]) for w, why in self.outcome.failures]
        events += [_observation(w, status="not_reached", note="tick budget spent; the next tick covers it")
                   for w in self.outcome.not_reached]
        return events

    def summary(self) -> str:
        """One line for the tick's status message: FAILED first when any window failed or was cut off."""
        if self.outcome is None:
            return self.skip_reason or ""
        done = ", ".join(f"{o.window.dataset} {o.published}" if o.acked_until else f"{o.window.dataset} (not yet)"
                         for o in self.outcome.outcomes)
        text = f"no run needed, fetched in this tick; published: {done or 'nothing'}"
        if self.deferred:
            text += f"; {deferral_note(self.deferred)}"
        failed = [w.dataset for w, _ in self.outcome.failures] + [w.dataset for w in self.outcome.not_reached]
        if failed:
            text = f"FAILED for {', '.join(failed)} (see the tick's log; the next tick re-covers them); {text}"
        return text

    def problems(self) -> list[str]:
        """What went wrong, one line each (the tick's error log)."""
        if self.outcome is None:
            return []
        return ([f"{w}: {why}; the next tick re-covers it" for w, why in self.outcome.failures]
                + [f"{w}: not fetched, the tick budget ran out; the next tick covers it"
                   for w in self.outcome.not_reached])


def _observation(window: Window, **metadata: object) -> dg.AssetObservation:
    return dg.AssetObservation(asset_key=raw_asset_key(window.dataset), metadata={
        "window_start": window.start.isoformat(), "window_end": window.end.isoformat(), **metadata})


def evaluate_fetch_sensor(instance: dg.DagsterInstance, cursor: str | None, now: datetime,
                          client_for: Callable[[str, float], SourceClient], bootstrap_servers: str,
                          warehouse: Warehouse | None, deadline: float,
                          datasets: tuple[str, ...] | None = None, policy: WindowPolicy | None = None,
                          clock: Callable[[], float] = time.monotonic) -> FetchTick:
    """One live tick: plan the due windows, fetch and publish them before ``deadline``, and move
    each dataset's cursor to the end of its window only once every record was acknowledged.

    Runs inside the sensor evaluation (the warm code server: no process per minute). A window that
    failed or was not reached keeps its dataset's cursor, so the next tick starts ``overlap``
    before the last acknowledged end again and the record stays gap-free. A tick that published
    but was lost before its cursor was stored (code server restarted) only re-publishes: landing
    is idempotent. Plain function so tests can drive the clock and the budget.
    """
    deferred = datasets_in_history_runs(instance)
    plan, acked, spent = plan_fetch(instance, cursor, now, datasets, policy, deferred)
    if isinstance(plan, dg.SkipReason):
        return FetchTick(_cursor(acked, spent), skip_reason=plan.skip_message, deferred=deferred)
    outcome = fetch_windows_within(plan, client_for, bootstrap_servers, warehouse, deadline, clock)
    for done in outcome.outcomes:
        if done.acked_until is not None:
            value = done.acked_until.isoformat()
            if done.window.dataset not in acked or value > acked[done.window.dataset]:
                acked[done.window.dataset] = value
    return FetchTick(_cursor(acked, spent), outcome=outcome, deferred=deferred)


def _cursor(acked: dict[str, str], spent: dict[str, object]) -> str:
    return json.dumps({"acked": acked, "spent": spent}, sort_keys=True)


FETCH_INTERVAL_SECONDS = 65
"""A little over the providers' limit of one request per dataset per minute. At exactly 60 s a tick
had no slack: once another request took a dataset's minute (a gap repair, the revisit run), the
next tick waited out a 429, every later tick started that much too early again, and the waits,
rounded up to whole seconds by Retry-After, only grew (2 s to 5 s over eight ticks of the demo,
benchmarks/README.md, issue 11, sixth pass). With 5 s of slack a wait shrinks by 5 s a tick."""


@dg.sensor(minimum_interval_seconds=FETCH_INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           description=(f"About every minute (every {FETCH_INTERVAL_SECONDS} s, within the providers' one request "
                        "per dataset per minute): fetch every live dataset's due window and publish it to Kafka, "
                        "inside the tick (no run), within ENERGY_FETCH_TICK_BUDGET_SECONDS."))
def fetch_sensor(context: dg.SensorEvaluationContext, energidataservice: EnergiDataServiceResource,
                 odre: OdreResource, kafka: KafkaResource, warehouse: WarehouseResource) -> dg.SensorResult:
    deadline = time.monotonic() + settings.get_float("ENERGY_FETCH_TICK_BUDGET_SECONDS")
    clients = {"energidataservice": energidataservice.client, "odre": odre.client}
    tick = evaluate_fetch_sensor(context.instance, context.cursor, utc_now(),
                                 lambda provider, until: clients[provider](deadline=until),
                                 kafka.servers(), warehouse.get(), deadline)
    if tick.outcome is None:
        return dg.SensorResult(skip_reason=tick.skip_reason, cursor=tick.cursor)
    for done in tick.outcome.outcomes:
        context.log.info(describe(done))
    for problem in tick.problems():
        context.log.error(problem)
    # Dagster shows a tick without run requests as "skipped" whatever it did, so its message says
    # what was fetched and what failed.
    return dg.SensorResult(skip_reason=tick.summary(), asset_events=tick.asset_events(), cursor=tick.cursor)
