"""Landed raw data as external assets: written by the landing consumer, not by Dagster.

Declaring them gives the UI the lineage history -> raw -> aggregates, a place for fetch
observations, and hourly partitions that the landing sensor marks as materialised when rows land.
"""


from datetime import timedelta

import dagster as dg

from energy_orchestration.assets.history import HISTORY_DATASETS
from energy_orchestration.assets.keys import LIVE_DATASETS, history_asset_key, raw_asset_key
from energy_orchestration.assets.partitions import RAW_HOURLY
from energy_orchestration.sources import DATASETS


def live_freshness(dataset: str) -> dg.FreshnessPolicy:
    """Late when a few of the dataset's own intervals (plus its publication lag) went by without
    anything landing: a minute dataset is stale after minutes, éCO2mix after about an hour."""
    spec = DATASETS[dataset]
    step, lag = spec.interval_minutes, spec.publication_lag_minutes
    return dg.FreshnessPolicy.time_window(warn_window=timedelta(minutes=2 * step + lag + 3),
                                          fail_window=timedelta(minutes=4 * step + lag + 5))


def raw_asset_spec(dataset: str) -> dg.AssetSpec:
    spec = DATASETS[dataset]
    return dg.AssetSpec(
        key=raw_asset_key(dataset),
        description=(f"{dataset} from {spec.provider} ({spec.interval_minutes}-minute intervals), landed by the "
                     "streaming consumer (`energy consume`) into `observations` (canonical rows) and "
                     "`raw_records` (provider payloads). Fetched live by `fetch_sensor`; each UTC hour "
                     "is marked materialised by `landing_sensor` when its rows land." + (
                         "" if dataset in LIVE_DATASETS else " Not fetched live: history backfills only.")),
        deps=[history_asset_key(dataset)],
        partitions_def=RAW_HOURLY,
        freshness_policy=live_freshness(dataset) if dataset in LIVE_DATASETS else None,
        group_name="raw",
        kinds={"kafka", "duckdb"},
        owners=["team:platform"],
        metadata={"dagster/table_name": "observations", "dataset": dataset,
                  "dagster/column_schema": dg.TableSchema(columns=[
                      dg.TableColumn("dataset", "VARCHAR"), dg.TableColumn("zone", "VARCHAR"),
                      dg.TableColumn("quantity", "VARCHAR"), dg.TableColumn("interval_start_utc", "TIMESTAMP"),
                      dg.TableColumn("interval_minutes", "SMALLINT"), dg.TableColumn("value", "DOUBLE"),
                      dg.TableColumn("unit", "VARCHAR"), dg.TableColumn("status", "VARCHAR")])},
    )


RAW_ASSETS = [raw_asset_spec(d) for d in HISTORY_DATASETS]
