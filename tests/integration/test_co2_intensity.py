"""CO2 intensity per zone and interval: reported where published, computed from the mix, apart."""

from datetime import datetime

import pandas as pd
import pytest

from energy_orchestration.emission_factors import CURRENT_VERSION
from energy_orchestration.warehouse.landing import LandingBatch, land

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(any_warehouse):
    """Every test here runs on both backends: the DuckDB file and DuckLake (tests/warehouse_backends.py)."""
    return any_warehouse

T = datetime(2025, 6, 1, 12, 0)


def observations(rows):
    frame = pd.DataFrame(rows, columns=["dataset", "zone", "quantity", "value"])
    return frame.assign(interval_start_utc=pd.Timestamp(T), interval_minutes=15, unit="MW", status="realtime",
                        fetched_at_utc=pd.Timestamp(T), kafka_partition=0, kafka_offset=range(len(frame)))


def test_computed_from_the_mix_with_the_factor_version_and_reported_kept_apart(warehouse):
    frame = observations([
        ("eco2mix-regional-tr", "FR-84", "production_nuclear", 800.0),
        ("eco2mix-regional-tr", "FR-84", "production_gas", 200.0),
        ("eco2mix-regional-tr", "FR-84", "consumption", 900.0),          # not production: ignored
        ("eco2mix-national-tr", "FR", "production_nuclear", 1000.0),
        ("eco2mix-national-tr", "FR", "co2_intensity_reported", 21.0),
    ])
    with warehouse.transaction() as db:
        land(db, LandingBatch(frame, pd.DataFrame()), T)
        rows = {r[0]: r[1:] for r in db.execute(
            "SELECT zone, reported, computed, factor_version FROM co2_intensity ORDER BY zone").fetchall()}
    assert rows["FR-84"][0] is None
    assert rows["FR-84"][1] == pytest.approx((800 * 12 + 200 * 490) / 1000)
    assert rows["FR-84"][2] == CURRENT_VERSION
    assert rows["FR"][0] == 21.0 and rows["FR"][1] == pytest.approx(12.0)


def test_a_zone_override_wins_over_the_default(warehouse):
    with warehouse.transaction() as db:
        db.execute("INSERT INTO emission_factors VALUES (?, 'FR-84', 'gas', 400.0, 'test override')", [CURRENT_VERSION])
        land(db, LandingBatch(observations([("eco2mix-regional-tr", "FR-84", "production_gas", 100.0)]),
                              pd.DataFrame()), T)
        [(computed,)] = db.execute("SELECT computed FROM co2_intensity WHERE zone = 'FR-84'").fetchall()
    assert computed == pytest.approx(400.0)
