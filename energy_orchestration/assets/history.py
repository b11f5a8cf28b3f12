"""Historical fetch: one daily-partitioned asset per live dataset, replayed through Kafka.

A backfill over any range of past local days runs as one run per dataset, which asks the
provider for the whole range in a few big windows (one request per window, as the providers'
rate limits want) and publishes every record to the same topic the live fetch uses. The landing
consumer lands it like live data; the landing sensor then rebuilds the touched hours, and the
rollup sensor the days, weeks and months.
"""

from datetime import datetime, timedelta, timezone

import dagster as dg

from energy_orchestration.assets.partitions import HISTORY_DAILY
from energy_orchestration.ingest import Window, describe, fetch_and_publish
from energy_orchestration.model import utc_now
from energy_orchestration.sensors.fetch import LIVE_DATASETS
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.sources import DATASETS

MAX_DAYS_PER_REQUEST = 31
"""A month of minute data is ~45k records (~25 MB of JSON): big windows, few requests."""


def history_asset_key(dataset: str) -> dg.AssetKey:
    return dg.AssetKey(["history", dataset.lower().replace("-", "_")])


def request_windows(dataset: str, start: datetime, end: datetime) -> list[Window]:
    """``[start, end)`` cut into windows of at most MAX_DAYS_PER_REQUEST days."""
    windows, cursor = [], start
    while cursor < end:
        stop = min(end, cursor + timedelta(days=MAX_DAYS_PER_REQUEST))
        windows.append(Window(dataset, cursor, stop))
        cursor = stop
    return windows


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
        description=(f"Re-fetches past local days of {dataset} from {spec.provider} and publishes them to "
                     f"Kafka like the live fetch; landing them refreshes the downstream partitions. Backfill "
                     f"a range from the UI or with `energy backfill --from … --to …`."),
    )
    def _history(context: dg.AssetExecutionContext, energidataservice: EnergiDataServiceResource,
                 odre: OdreResource, kafka: KafkaResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
        window = context.partition_time_window
        start, end = window.start.astimezone(timezone.utc), window.end.astimezone(timezone.utc)
        end = max(start, min(end, utc_now()))  # today's partition: only what can exist so far
        client = {"energidataservice": energidataservice, "odre": odre}[spec.provider].client()
        fetched = published = 0
        parts = request_windows(dataset, start, end)
        for part in parts:
            outcome = fetch_and_publish(client, kafka.servers(), part, warehouse.get())
            context.log.info(describe(outcome))
            fetched, published = fetched + outcome.fetched, published + outcome.published
        if published != fetched:
            raise dg.Failure(f"{dataset}: only {published} of {fetched} records acknowledged by the broker")
        return dg.MaterializeResult(metadata={
            "window_utc": f"[{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})",
            "requests": len(parts), "records_fetched": fetched,
            "records_published": published})

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
