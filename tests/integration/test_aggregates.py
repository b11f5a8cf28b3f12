"""Aggregates over data that came the whole way: stand-in over HTTP -> Kafka -> consumer -> DuckDB.

The expectations are recomputed independently in pandas from ``observations`` (zoneinfo for
local days, plain group-bys), never read back from the SQL under test.
"""

from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from energy_orchestration.model import RENEWABLE_MODES, ZONE_TIME_ZONES
from energy_orchestration.warehouse.aggregates import DATASET_PRECEDENCE, build_zone_hourly, build_zone_periods

pytestmark = pytest.mark.integration

HISTORY = ["PowerSystemRightNow", "CO2Emis", "ElectricityProdex5MinRealtime", "eco2mix-regional-cons-def",
           "eco2mix-national-cons-def"]
"""What the providers still hold for 2025: éCO2mix's real-time sets only reach back ~60 days
(the stand-in too), so France and its regions come from the consolidated sets, 30-minute steps."""


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def build_all(warehouse, start: datetime, end: datetime, first: date, last: date) -> None:
    with warehouse.transaction() as db:
        build_zone_hourly(db, start.replace(tzinfo=None), end.replace(tzinfo=None))
        for grain in ("daily", "weekly", "monthly"):
            build_zone_periods(db, grain, first, last)


def expected_hourly(observations: pd.DataFrame) -> pd.DataFrame:
    """Independent recomputation: per zone, quantity and UTC hour, the best-ranked dataset's
    time-weighted mean and energy."""
    o = observations.copy()
    o["hour"] = o["interval_start_utc"].dt.floor("h")
    o["weighted"] = o["value"] * o["interval_minutes"]
    per = o.groupby(["zone", "quantity", "hour", "dataset"], as_index=False).agg(
        weighted=("weighted", "sum"), minutes=("interval_minutes", "sum"))
    per["rank"] = per["dataset"].map({d: i for i, d in enumerate(DATASET_PRECEDENCE)})
    best = per.sort_values("rank").drop_duplicates(["zone", "quantity", "hour"])
    best["mean"] = best["weighted"] / best["minutes"]
    best["mwh"] = best["weighted"] / 60
    return best


def local_day(hours: pd.Series, zone: str) -> pd.Series:
    return hours.dt.tz_localize("UTC").dt.tz_convert(ZONE_TIME_ZONES[zone]).dt.date


@pytest.mark.parametrize("day, hours", [(date(2025, 3, 30), 23), (date(2025, 10, 26), 25)])
def test_dst_days_roll_up_23_and_25_local_hours(land_range, warehouse, day, hours):
    start, end = utc(day.year, day.month, day.day - 1, 20), utc(day.year, day.month, day.day + 1, 2)
    land_range(start, end, HISTORY)
    build_all(warehouse, start, end, day, day)
    with warehouse.connect(read_only=True) as db:
        daily = db.execute("""
            SELECT zone, hours_expected, hours_present, production_mwh, consumption_mwh, coverage_pct,
                   period_start_utc, period_end_utc
            FROM zone_daily WHERE local_date = ? ORDER BY zone""", [day]).df().set_index("zone")
        observations = db.execute("SELECT * FROM observations").df()
    for zone in ("DK", "DK-DK1", "DK-DK2", "FR", "FR-11", "FR-93"):
        row = daily.loc[zone]
        assert (row.hours_expected, row.hours_present) == (hours, hours), zone
        local_midnight = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(ZONE_TIME_ZONES[zone]))
        assert row.period_start_utc == local_midnight.astimezone(timezone.utc).replace(tzinfo=None)
        assert row.coverage_pct == pytest.approx(100.0)
    best = expected_hourly(observations)
    production = best[best["quantity"].str.startswith("production_")]
    for zone in ("DK", "DK-DK1", "FR-11", "FR-84"):
        mine = production[(production["zone"] == zone) & (local_day(production["hour"], zone) == day)]
        assert mine["hour"].nunique() == hours
        assert daily.loc[zone].production_mwh == pytest.approx(mine["mwh"].sum(), rel=1e-9)
    consumption = best[(best["quantity"] == "consumption") & (best["zone"] == "FR-11")]
    fr_day = consumption[local_day(consumption["hour"], "FR-11") == day]
    assert daily.loc["FR-11"].consumption_mwh == pytest.approx(fr_day["mwh"].sum(), rel=1e-9)


def test_a_generated_month_equals_an_independent_recomputation(land_range, warehouse):
    start, end = utc(2025, 1, 31, 22), utc(2025, 3, 1, 1)   # February 2025 in local time, with margins
    land_range(start, end, HISTORY)
    build_all(warehouse, start, end, date(2025, 2, 1), date(2025, 2, 28))
    with warehouse.connect(read_only=True) as db:
        observations = db.execute("SELECT * FROM observations").df()
        hourly = db.execute("SELECT * FROM zone_hourly").df()
        monthly = db.execute("SELECT * FROM zone_monthly WHERE month_start = DATE '2025-02-01'").df().set_index("zone")
        factors = db.execute("SELECT zone, mode, g_co2eq_per_kwh FROM emission_factors").df()
    best = expected_hourly(observations)

    # hourly: every (zone, hour) value of a few fields equals the recomputed mean
    wide = best.pivot_table(index=["zone", "hour"], columns="quantity", values="mean").reset_index()
    merged = hourly.merge(wide, left_on=["zone", "hour_start_utc"], right_on=["zone", "hour"], suffixes=("", "_exp"))
    assert len(merged) == len(wide) == len(hourly)
    for field in ("production_wind_offshore", "production_solar", "consumption", "co2_intensity_reported"):
        present = merged[f"{field}_exp"].notna()
        assert present.any()
        np.testing.assert_allclose(merged.loc[present, field], merged.loc[present, f"{field}_exp"], rtol=1e-9)

    # computed CO2 intensity of one hour of FR-84 from the factor table, by hand
    sample = best[(best["zone"] == "FR-84") & (best["hour"] == pd.Timestamp("2025-02-14 12:00"))]
    sample = sample[sample["quantity"].str.startswith("production_")].assign(
        mode=lambda f: f["quantity"].str.removeprefix("production_"))
    defaults = factors[factors["zone"] == "*"].set_index("mode")["g_co2eq_per_kwh"]
    own = factors[factors["zone"] == "FR-84"].set_index("mode")["g_co2eq_per_kwh"]
    sample["factor"] = sample["mode"].map(lambda m: own.get(m, defaults.get(m)))
    sample = sample[sample["factor"].notna()]
    expected_ci = (sample["mean"] * sample["factor"]).sum() / sample["mean"].sum()
    got = hourly[(hourly["zone"] == "FR-84") & (hourly["hour_start_utc"] == pd.Timestamp("2025-02-14 12:00"))]
    assert got["co2_intensity_computed"].iloc[0] == pytest.approx(expected_ci, rel=1e-9)

    # monthly: energies and renewable share over the zone's local February
    for zone in ("DK", "DK-DK1", "DK-DK2", "FR", "FR-11", "FR-76"):
        mine = best[(best["zone"] == zone)]
        days = local_day(mine["hour"], zone)
        february = mine[(days >= date(2025, 2, 1)) & (days <= date(2025, 2, 28))]
        production = february[february["quantity"].str.startswith("production_")]["mwh"].sum()
        renewable = february[february["quantity"].isin([f"production_{m}" for m in RENEWABLE_MODES])]["mwh"].sum()
        row = monthly.loc[zone]
        assert row.hours_expected == row.hours_present == 28 * 24
        assert row.production_mwh == pytest.approx(production, rel=1e-9)
        assert row.renewable_share_pct == pytest.approx(100 * renewable / production, rel=1e-9)
        consumption = february[february["quantity"] == "consumption"]["mwh"].sum()
        if consumption:
            assert row.consumption_mwh == pytest.approx(consumption, rel=1e-9)
