"""Names the Dagster shell shares: which datasets are live and every asset key built from a name.

They live at the bottom of the shell so that assets and sensors both import them from here:
sensors sit above assets (they launch asset runs), never the other way round.
"""

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.sources import DATASETS


def live_datasets() -> tuple[str, ...]:
    """ENERGY_LIVE_DATASETS, checked against the registry so a typo fails loudly at load time."""
    names = settings.get_list("ENERGY_LIVE_DATASETS")
    unknown = [n for n in names if n not in DATASETS]
    if unknown:
        raise ValueError(f"ENERGY_LIVE_DATASETS names unknown datasets {unknown}; known: {sorted(DATASETS)}")
    return names


LIVE_DATASETS = live_datasets()


def _asset_name(dataset: str) -> str:
    return dataset.lower().replace("-", "_")


def raw_asset_key(dataset: str) -> dg.AssetKey:
    """``raw/<dataset>``: the landed rows of a dataset (an external asset)."""
    return dg.AssetKey(["raw", _asset_name(dataset)])


def history_asset_key(dataset: str) -> dg.AssetKey:
    """``history/<dataset>``: the daily-partitioned backfill of a dataset."""
    return dg.AssetKey(["history", _asset_name(dataset)])


ZONE_HOURLY_KEY = dg.AssetKey(["agg", "zone_hourly"])
ZONE_DAILY_KEY = dg.AssetKey(["agg", "zone_daily"])

