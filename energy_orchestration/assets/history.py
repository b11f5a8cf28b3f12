"""Historical fetch: one daily-partitioned asset per live dataset, replayed through Kafka.

A backfill over any range of past local days runs as one run per dataset, which asks the
provider for the whole range in a few big windows (one request per window, as the providers'
rate limits want) and publishes every record to the same topic the live fetch uses. The landing
consumer lands it like live data; the landing sensor then rebuilds the touched hours, and the
rollup sensor the days, weeks and months.

A partition is done only when its records are *in the warehouse*, not when the broker has
acknowledged them (a memory-only broker that dies loses what it acknowledged): the run waits for
the consumer to land every published record key, re-publishes what did not land, and fails
loudly if records still miss. Its ``history_nonempty`` check says which days the provider
returned nothing for, and whether that is expected (before a source's known start, outside a
real-time set's window) or an error.
"""

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg

from energy_orchestration.assets.keys import LIVE_DATASETS, history_asset_key
from energy_orchestration.assets.partitions import HISTORY_DAILY, LOCAL_TIME_ZONE
from energy_orchestration.ingest import Window, cut_windows, describe, fetch_and_publish
from energy_orchestration.model import utc_now
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.sources import DATASETS, SourceClient
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.completeness import unlanded_keys

MAX_DAYS_PER_REQUEST = 31
"""A month of minute data is ~45k records (~25 MB of JSON): big windows, few requests."""


def request_windows(dataset: str, start: datetime, end: datetime) -> list[Window]:
    """``[start, end)`` cut into windows of at most MAX_DAYS_PER_REQUEST days."""
    return cut_windows(dataset, start, end, timedelta(days=MAX_DAYS_PER_REQUEST))


LANDING_POLL_SECONDS = 2.0
REPUBLISH_ROUNDS = 2
"""Re-publishing what did not land is tried this often before the run fails."""

REALTIME_SURE_DAYS = 28
"""éCO2mix's real-time sets hold about two months (from the day after the last consolidated
month); the last 28 days are certainly there, older days may already have moved on."""
CONSOLIDATED_AFTER_DAYS = 92
"""Days older than this are certainly in the consolidated/definitive sets; younger ones may not be yet."""
KNOWN_START: dict[str, date] = {"eco2mix-national-cons-def": date(2012, 1, 1),
                                "eco2mix-regional-cons-def": date(2013, 1, 1)}
"""First day a dataset publishes (external-apis.md): an empty day before it is expected."""


class HistoryConfig(dg.Config):
    landing_stall_seconds: float = 300.0
    """Give up waiting for the consumer after this long without one more record landing."""


def records_per_interval(dataset: str) -> int:
    """Records a provider publishes per interval: one per zone row (regions, price areas)."""
    return DATASETS[dataset].records_per_interval


def local_day(moment_utc: datetime) -> date:
    """The history partition (local day) a naive-UTC interval start belongs to."""
    return moment_utc.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(LOCAL_TIME_ZONE)).date()


def day_window_utc(day: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of a local day, aware UTC (23 or 25 hours on DST days)."""
    zone = ZoneInfo(LOCAL_TIME_ZONE)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    after = day + timedelta(days=1)
    end = datetime(after.year, after.month, after.day, tzinfo=zone)
    return start.astimezone(timezone.utc), end.astimezone(timezone.utc)


def expected_records(dataset: str, day: date, until_utc: datetime) -> int:
    """Records the provider publishes for a local day, counting only intervals before ``until_utc``."""
    start, end = day_window_utc(day)
    end = min(end, until_utc)
    if end <= start:
        return 0
    step = timedelta(minutes=DATASETS[dataset].interval_minutes)
    return math.ceil((end - start) / step) * records_per_interval(dataset)


def empty_day_expected(dataset: str, day: date, today: date) -> str | None:
    """Why a provider rightly has nothing for ``day`` (None when it should have data)."""
    first = KNOWN_START.get(dataset)
    if first is not None and day < first:
        return f"before {dataset}'s first day {first}"
    age = (today - day).days
    companion = HISTORY_COMPANIONS.get(dataset)
    if companion is not None and age > REALTIME_SURE_DAYS:
        return f"may be older than the real-time window; {companion} holds it"
    live = next((live for live, older in HISTORY_COMPANIONS.items() if older == dataset), None)
    if live is not None and age <= CONSOLIDATED_AFTER_DAYS:
        return f"may not be consolidated yet; {live} holds it"
    return None


@dataclass(frozen=True)
class DayTally:
    day: date
    expected: int
    fetched: int
    expected_empty: str | None
    """Why no rows is acceptable for this day, or None."""


def tally_days(dataset: str, days: list[date], fetched: dict[date, int], today: date,
               until_utc: datetime) -> list[DayTally]:
    return [DayTally(day, expected_records(dataset, day, until_utc), fetched.get(day, 0),
                     empty_day_expected(dataset, day, today)) for day in days]


def nonempty_check(dataset: str, tallies: list[DayTally]) -> dg.AssetCheckResult:
    """``history_nonempty``: fails for days the provider returned no rows for; ERROR unless
    each such day is one the provider rightly does not hold (then WARN)."""
    empty = [t for t in tallies if t.fetched == 0 and t.expected > 0]
    errors = [t for t in empty if t.expected_empty is None]
    table = "\n".join(["| day | rows expected | rows fetched | why no rows may be fine |", "|---|---|---|---|"] + [
        f"| {t.day} | {t.expected} | {t.fetched} | {t.expected_empty or '**should have data**'} |"
        for t in empty[:60]]) if empty else "no empty day"
    return dg.AssetCheckResult(
        check_name="history_nonempty", passed=not empty,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=(f"{dataset}: {len(empty)} of {len(tallies)} days came back empty"
                     f" ({len(errors)} of them should have data)" if empty else
                     f"{dataset}: rows for each of {len(tallies)} days"),
        metadata={"dataset": dataset, "days": len(tallies), "days_empty": len(empty),
                  "days_empty_unexpected": len(errors),
                  "rows_expected": sum(t.expected for t in tallies), "rows_fetched": sum(t.fetched for t in tallies),
                  "empty_days": dg.MetadataValue.md(table)})


@dataclass
class PublishedRecords:
    """What a history run published: each record key (with its request window) and the
    records per local day, kept while the records themselves are dropped (a month of minute
    data would not fit in memory twice)."""

    dataset: str
    now: datetime
    windows: dict[str, Window] = field(default_factory=dict)
    per_day: Counter = field(default_factory=Counter)

    def noter(self, window: Window) -> Callable[[list[Any]], None]:
        def note(records: list[Any]) -> None:
            batch = DATASETS[self.dataset].normalise(records, self.now)
            for key, moment in zip(batch.record_keys, batch.record_times, strict=False):
                if key:
                    self.windows[key] = window
                if moment is not None:
                    self.per_day[local_day(moment)] += 1
        return note


def await_landing(warehouse: Warehouse, dataset: str, keys: list[str], stall_seconds: float,
                  poll_seconds: float = LANDING_POLL_SECONDS, clock: Callable[[], float] = time.monotonic,
                  sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Wait until every key is in the warehouse; give up after ``stall_seconds`` without one
    more landing. Returns the keys still missing (empty when all landed)."""
    missing: list[str] | None = None
    progress_at = clock()
    while True:
        with warehouse.connect(read_only=True) as connection:
            now_missing = unlanded_keys(connection, dataset, keys if missing is None else missing)
        if not now_missing:
            return []
        if missing is None or len(now_missing) < len(missing):
            progress_at = clock()
        missing = now_missing
        if clock() - progress_at >= stall_seconds:
            return missing
        sleep(poll_seconds)


def republish(client: SourceClient, bootstrap_servers: str, published: PublishedRecords, missing: list[str]) -> int:
    """Fetch again the windows holding missing records and publish just those records.
    Returns how many were published (the provider may no longer return some)."""
    spec = DATASETS[published.dataset]
    wanted = set(missing)
    windows = {published.windows[key] for key in missing if key in published.windows}
    ensure_topics(bootstrap_servers, all_topics([published.dataset]))
    sent = 0
    for window in sorted(windows, key=lambda w: w.start):
        records = client.fetch_window(window.dataset, window.start, window.end)
        keys = spec.normalise(records, published.now).record_keys
        again = [record for record, key in zip(records, keys, strict=False) if key in wanted]
        if again:
            result = publish_records(bootstrap_servers, raw_topic(published.dataset), spec.provider,
                                     published.dataset, again, spec.message_zone, utc_now())
            sent += result.delivered
    return sent


def history_asset(dataset: str) -> dg.AssetsDefinition:
    spec = DATASETS[dataset]

    @dg.asset(
        key=history_asset_key(dataset),
        partitions_def=HISTORY_DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="history",
        kinds={"api", "kafka"},
        owners=["team:platform"],
        op_tags={"energy/kind": "history"},
        check_specs=[dg.AssetCheckSpec(
            "history_nonempty", asset=history_asset_key(dataset),
            description=("Days of the run the provider returned no rows for: ERROR when it should hold "
                         "them, WARN when it rightly does not (before its first day, outside a real-time "
                         "window); lists dataset, days, rows expected vs fetched."))],
        description=(f"Re-fetches past local days of {dataset} from {spec.provider} and publishes them to "
                     f"Kafka like the live fetch; done when every record is in the warehouse (what did not "
                     f"land is re-published, or the run fails). Backfill a range from the UI or with "
                     f"`energy backfill --from … --to …`."),
    )
    def _history(context: dg.AssetExecutionContext, config: HistoryConfig,
                 energidataservice: EnergiDataServiceResource, odre: OdreResource, kafka: KafkaResource,
                 warehouse: WarehouseResource):
        window = context.partition_time_window
        now = utc_now()
        start, end = window.start.astimezone(timezone.utc), window.end.astimezone(timezone.utc)
        end = max(start, min(end, now))  # today's partition: only what can exist so far
        client = {"energidataservice": energidataservice, "odre": odre}[spec.provider].client()
        fetched = published = 0
        parts = request_windows(dataset, start, end)
        sent = PublishedRecords(dataset, now)
        for part in parts:
            outcome = fetch_and_publish(client, kafka.servers(), part, warehouse.get(), on_records=sent.noter(part))
            context.log.info(describe(outcome))
            fetched, published = fetched + outcome.fetched, published + outcome.published
        if published != fetched:
            raise dg.Failure(f"{dataset}: only {published} of {fetched} records acknowledged by the broker")
        keys = list(sent.windows)
        missing = await_landing(warehouse.get(), dataset, keys, config.landing_stall_seconds)
        republished = 0
        for _ in range(REPUBLISH_ROUNDS):
            if not missing:
                break
            context.log.warning(f"{dataset}: {len(missing)} of {len(keys)} acknowledged records did not land "
                                f"(nothing new for {config.landing_stall_seconds:g}s); publishing them again")
            republished += republish(client, kafka.servers(), sent, missing)
            missing = await_landing(warehouse.get(), dataset, missing, config.landing_stall_seconds)
        if missing:
            raise dg.Failure(
                f"{dataset}: {len(missing)} of {len(keys)} published records never landed in the warehouse "
                f"(after {REPUBLISH_ROUNDS} re-publications); is `energy consume` running?",
                metadata={"records_missing": len(missing), "first_missing": ", ".join(missing[:5])})
        days = [datetime.strptime(key, "%Y-%m-%d").date() for key in context.partition_keys]
        today = local_day(now.astimezone(timezone.utc).replace(tzinfo=None))
        tallies = tally_days(dataset, days, dict(sent.per_day), today, end)
        yield dg.MaterializeResult(metadata={
            "window_utc": f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})",
            "requests": len(parts), "records_fetched": fetched,
            "records_published": published, "records_landed": len(keys), "records_republished": republished,
            "records_per_day": dg.MetadataValue.json({str(t.day): t.fetched for t in tallies})})
        yield nonempty_check(dataset, tallies)

    return _history


HISTORY_COMPANIONS = {"eco2mix-regional-tr": "eco2mix-regional-cons-def",
                      "eco2mix-national-tr": "eco2mix-national-cons-def"}
"""Datasets that keep a live dataset's older history: éCO2mix's real-time sets only reach back a
few weeks, after which RTE publishes the consolidated/definitive set (30-minute steps)."""

HISTORY_DATASETS = tuple(dict.fromkeys(
    [*LIVE_DATASETS, *(HISTORY_COMPANIONS[d] for d in LIVE_DATASETS if d in HISTORY_COMPANIONS)]))
"""Every dataset with a history asset (and so a raw asset): a backfill over a range fetches each;
each provider answers for the days it still holds and the others are noted as not published."""

HISTORY_ASSETS = [history_asset(dataset) for dataset in HISTORY_DATASETS]
