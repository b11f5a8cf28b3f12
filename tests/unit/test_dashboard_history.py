"""The dashboard history view's pure parts: which datasets publish what for a zone, the grain
picked for a span, and the CO2 method texts (serving/history.py)."""

from datetime import date

from energy_orchestration.emission_factors import CURRENT_VERSION
from energy_orchestration.serving.history import co2_methods, pick_grain, published_quantities


def test_published_quantities_follow_the_declared_mappings():
    published = published_quantities()
    dk1 = published["DK-DK1"]
    # Energi Data Service publishes no consumption and no net exchange per price area ...
    assert "consumption" not in dk1 and "exchange_net" not in dk1
    # ... only per-neighbour flows, from both the minute and the 5-minute dataset
    assert dk1["exchange_de"] == ("ElectricityProdex5MinRealtime", "PowerSystemRightNow")
    assert dk1["exchange_dk2"] == ("ElectricityProdex5MinRealtime", "PowerSystemRightNow")
    assert published["DK-DK2"]["exchange_bornholm_se"] == ("ElectricityProdex5MinRealtime", "PowerSystemRightNow")
    assert dk1["co2_intensity_reported"] == ("CO2Emis",)
    assert published["DK"]["exchange_net"] == ("PowerSystemRightNow",)  # Exchange_Sum: Denmark's net
    # éCO2mix: consumption everywhere in France; the reported CO2 only nationally
    assert "eco2mix-regional-tr" in published["FR-84"]["consumption"]
    assert "co2_intensity_reported" not in published["FR-84"]
    assert "eco2mix-national-tr" in published["FR"]["co2_intensity_reported"]


def test_grain_follows_the_span():
    assert pick_grain(date(2025, 10, 26), date(2025, 10, 26)) == "minute"
    assert pick_grain(date(2025, 10, 26), date(2025, 10, 27)) == "minute"
    assert pick_grain(date(2025, 10, 25), date(2025, 10, 27)) == "hourly"
    assert pick_grain(date(2025, 1, 1), date(2025, 3, 3)) == "hourly"  # 62 days
    assert pick_grain(date(2025, 1, 1), date(2025, 3, 4)) == "daily"


def test_co2_methods_name_their_sources():
    dk1 = co2_methods("DK-DK1")
    assert "CO2Emis" in dk1["reported"] and "direct" in dk1["reported"]
    assert CURRENT_VERSION in dk1["computed"] and "life-cycle" in dk1["computed"]
    assert co2_methods("FR")["reported"].startswith("RTE")
    region = co2_methods("FR-84")
    assert region["reported"] == "no source publishes a CO2 intensity for FR-84"
    assert region["why_they_differ"] == "only the computed intensity exists for this zone"
