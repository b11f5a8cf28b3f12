"""Landed raw data as external assets: written by the landing consumer, not by Dagster.

Declaring them gives the UI the lineage raw -> aggregates and a place for fetch observations.
"""


import dagster as dg

from energy_orchestration.sensors.fetch import LIVE_DATASETS, raw_asset_key
from energy_orchestration.sources import DATASETS


def raw_asset_spec(dataset: str) -> dg.AssetSpec:
    spec = DATASETS[dataset]
    return dg.AssetSpec(
        key=raw_asset_key(dataset),
        description=(f"{dataset} from {spec.provider} ({spec.interval_minutes}-minute intervals), landed by the "
                     "streaming consumer (`energy consume`) into `observations` (canonical rows) and "
                     "`raw_records` (provider payloads). Fetched every minute by `fetch_sensor`."),
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


RAW_ASSETS = [raw_asset_spec(d) for d in LIVE_DATASETS]
