"""The 5-minute, per-price-area Energi Data Service datasets (CO2Emis, ElectricityProdex5MinRealtime):
the parser on the real recorded payload, per-record zones, and a round trip through the stand-in."""

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from energy_orchestration.model import QUANTITIES, RULES, ZONES
from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.energidataservice import (
    CO2_EMIS,
    ELECTRICITY_PRODEX_5MIN,
    RECORD_ZONE,
    ColumnMapping,
    DatasetSpec,
    normalise,
)
from energy_orchestration.standin import energidataservice as standin

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "eds_ElectricityProdex5MinRealtime_2025-02-21.json"
PRODEX = "ElectricityProdex5MinRealtime"
NOW = datetime(2025, 2, 22, tzinfo=timezone.utc)
STANDIN_NOW = datetime(2025, 6, 21, 10, 17, 42, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def prodex_records() -> list[dict]:
    return json.loads(FIXTURE.read_text())["records"]


def value(frame, zone, quantity, moment):
    rows = frame[(frame.zone == zone) & (frame.quantity == quantity)
                 & (frame.interval_start_utc == datetime.fromisoformat(moment))]
    assert len(rows) == 1, (zone, quantity, moment, rows)
    return rows.value.iloc[0]


def standin_records(spec, params: dict[str, str], bad_record_rate: float = 0.0) -> list[dict]:
    query = standin.parse_query(params, spec, STANDIN_NOW)
    return standin.run_query(spec, query, now=STANDIN_NOW, history_start=datetime(2020, 1, 1, tzinfo=timezone.utc),
                             bad_record_rate=bad_record_rate)["records"]


# --------------------------------------------------------------------------- the recorded payload


def test_registry_and_rule() -> None:
    assert DATASETS[PRODEX] is ELECTRICITY_PRODEX_5MIN and DATASETS["CO2Emis"] is CO2_EMIS
    for spec in (CO2_EMIS, ELECTRICITY_PRODEX_5MIN):
        assert spec.interval_minutes == 5 and spec.zone_column == "PriceArea" and spec.time_column == "Minutes5UTC"
    assert "unknown_zone" in RULES


def test_recorded_payload_melts_into_one_observation_per_non_null_mapped_value(prodex_records) -> None:
    batch = normalise(PRODEX, prodex_records, NOW)
    frame = batch.observations
    assert batch.rejections == [] and batch.rejected_records == set()
    columns = {m.column for m in ELECTRICITY_PRODEX_5MIN.mappings}
    expected = sum(sum(record[c] is not None for c in columns) for record in prodex_records)
    assert len(prodex_records) == 100 and len(frame) == expected == 50 * 11 + 50 * 9
    assert set(frame.zone) == {"DK-DK1", "DK-DK2"} and set(frame.zone) <= set(ZONES)
    assert set(frame.quantity) <= set(QUANTITIES)
    assert (frame.interval_minutes == 5).all() and (frame.status == "realtime").all() and set(frame.unit) == {"MW"}
    assert frame.interval_start_utc.min() == datetime(2025, 2, 21, 15, 5)
    assert frame.interval_start_utc.max() == datetime(2025, 2, 21, 19, 10)
    # each observation points back to its record, and takes that record's zone
    zones = np.array([f"DK-{r['PriceArea']}" for r in prodex_records])
    assert (frame.zone.astype(str).to_numpy() == zones[frame.record_index.to_numpy()]).all()
    assert batch.record_keys[:2] == ["2025-02-21T19:10:00|DK1", "2025-02-21T19:10:00|DK2"]
    assert ELECTRICITY_PRODEX_5MIN.message_zone(prodex_records[1]) == "DK-DK2"


def test_recorded_values(prodex_records) -> None:
    frame = normalise(PRODEX, prodex_records, NOW).observations
    assert value(frame, "DK-DK1", "production_wind_offshore", "2025-02-21T19:10") == pytest.approx(1502.01001)
    assert value(frame, "DK-DK2", "exchange_de", "2025-02-21T19:10") == pytest.approx(-682.690002)
    assert value(frame, "DK-DK2", "exchange_bornholm_se", "2025-02-21T19:10") == pytest.approx(9.59)
    assert value(frame, "DK-DK1", "exchange_no", "2025-02-21T19:05") == pytest.approx(1250.27002)
    assert value(frame, "DK-DK1", "production_unknown", "2025-02-21T19:10") == pytest.approx(347.149994)
    assert value(frame, "DK-DK2", "production_thermal_other", "2025-02-21T19:10") == pytest.approx(430.070007)


def test_nulls_of_links_an_area_lacks_are_skipped_not_rejected(prodex_records) -> None:
    batch = normalise(PRODEX, prodex_records, NOW)
    pairs = set(zip(batch.observations.zone, batch.observations.quantity, strict=False))
    assert ("DK-DK1", "exchange_bornholm_se") not in pairs
    for border in ("nl", "gb", "no"):
        assert ("DK-DK1", f"exchange_{border}") in pairs and ("DK-DK2", f"exchange_{border}") not in pairs
    assert ("DK-DK2", "exchange_bornholm_se") in pairs
    assert batch.rejections == []


def test_great_belt_is_import_positive_from_each_side(prodex_records) -> None:
    frame = normalise(PRODEX, prodex_records, NOW).observations
    dk1 = frame[(frame.zone == "DK-DK1") & (frame.quantity == "exchange_dk2")].set_index("interval_start_utc").value
    dk2 = frame[(frame.zone == "DK-DK2") & (frame.quantity == "exchange_dk1")].set_index("interval_start_utc").value
    assert len(dk1) == len(dk2) == 50
    assert ((dk1 + dk2.loc[dk1.index]).abs() < 1e-9).all()  # the recording's two rows are opposite: no flip
    assert dk1.loc[datetime(2025, 2, 21, 19, 10)] == pytest.approx(-302.589996)  # DK1 exports to DK2
    assert dk2.loc[datetime(2025, 2, 21, 19, 10)] == pytest.approx(302.589996)
    pairs = set(zip(frame.zone, frame.quantity, strict=False))
    assert ("DK-DK1", "exchange_dk1") not in pairs and ("DK-DK2", "exchange_dk2") not in pairs


@pytest.mark.parametrize("change", [{"PriceArea": "DK3"}, {"PriceArea": None}, {"PriceArea": "dk1"},
                                    {"PriceArea": 1}, {"PriceArea": ["DK1"]}, "drop"])
def test_an_unknown_price_area_rejects_the_record_whole(prodex_records, change) -> None:
    bad = dict(prodex_records[0])
    if change == "drop":
        del bad["PriceArea"]
    else:
        bad.update(change)
    batch = normalise(PRODEX, [prodex_records[1], bad], NOW)
    [rejection] = batch.rejections
    assert rejection.rule == "unknown_zone" and rejection.record_index == 1
    assert rejection.reason.startswith(RULES["unknown_zone"])
    assert batch.rejected_records == {1}
    assert set(batch.observations.record_index) == {0} and len(batch.observations) == 9
    assert batch.record_keys[1].startswith("2025-02-21T19:10:00|")


def test_value_rejections_carry_the_record_zone_and_are_not_doubled(prodex_records) -> None:
    bad = dict(prodex_records[1], SolarPower=-5.0, ExchangeGreatBelt=1e6, ExchangeSweden="n/a")
    batch = normalise(PRODEX, [prodex_records[0], bad], NOW)
    found = sorted((r.rule, r.zone, r.quantity, r.record_index) for r in batch.rejections)
    assert found == [("negative_production", "DK-DK2", "production_solar", 1),
                     ("not_a_number", "DK-DK2", "exchange_se", 1),  # the canonical field it would fill
                     ("out_of_bounds", "DK-DK2", "exchange_dk1", 1)]
    assert batch.rejected_records == set()
    assert len(batch.observations) == 11 + 9 - 3


def test_a_per_record_zone_needs_a_zone_column() -> None:
    mapping = ColumnMapping("CO2Emission", RECORD_ZONE, "co2_intensity_reported")
    with pytest.raises(ValueError, match="zone_column"):
        DatasetSpec(name="X", time_column="T", interval_minutes=5, key_columns=("T",), mappings=(mapping,))
    with pytest.raises(ValueError, match="only_zone"):
        DatasetSpec(name="X", time_column="T", interval_minutes=5, key_columns=("T",), zone_column="PriceArea",
                    price_areas=("DK1",),
                    mappings=(ColumnMapping("A", RECORD_ZONE, "exchange_dk1", only_zone="DK-DK2"),))


def test_a_large_batch_is_parsed_column_wise(prodex_records) -> None:
    records = prodex_records * 200  # 20,000 records as the landing consumer sends them
    batch = normalise(PRODEX, records, NOW)
    assert len(batch.observations) == 200 * 1000 and batch.rejections == []
    assert batch.observations.zone.dtype == "category"
    assert list(batch.observations.zone.cat.categories) == ["DK-DK1", "DK-DK2"]


# --------------------------------------------------------------------------- CO2Emis and the stand-in round trip


def test_co2emis_on_a_standin_payload() -> None:
    records = standin_records(standin.CO2_EMIS, {"start": "2025-06-21T09:00", "end": "2025-06-21T10:00",
                                                 "timezone": "UTC"})
    assert len(records) == 24
    batch = normalise("CO2Emis", records, STANDIN_NOW)
    frame = batch.observations
    assert batch.rejections == [] and len(frame) == 24
    assert set(frame.quantity) == {"co2_intensity_reported"} and set(frame.unit) == {"gCO2eq/kWh"}
    assert sorted(frame.zone.value_counts().items()) == [("DK-DK1", 12), ("DK-DK2", 12)]
    first = records[0]  # newest first, DK1 first within a timestamp
    assert (first["Minutes5UTC"], first["PriceArea"]) == ("2025-06-21T09:55:00", "DK1")
    assert value(frame, "DK-DK1", "co2_intensity_reported", "2025-06-21T09:55") == first["CO2Emission"]
    assert batch.record_keys[:2] == ["2025-06-21T09:55:00|DK1", "2025-06-21T09:55:00|DK2"]


@pytest.mark.parametrize("spec", [standin.CO2_EMIS, standin.ELECTRICITY_PRODEX_5MIN, standin.POWER_SYSTEM_RIGHT_NOW])
def test_standin_rows_round_trip_without_rejections(spec) -> None:
    records = standin_records(spec, {"start": "2025-06-21T06:00", "end": "2025-06-21T10:00", "timezone": "UTC"})
    batch = normalise(spec.name, records, STANDIN_NOW)
    assert batch.rejections == [] and len(records) > 0
    mapped = {m.column for m in DATASETS[spec.name].mappings}
    expected = sum(sum(r.get(c) is not None for c in mapped) for r in records)
    great_belt_twice = spec is standin.POWER_SYSTEM_RIGHT_NOW  # one column, both areas
    assert len(batch.observations) == expected + (len(records) if great_belt_twice else 0)


@pytest.mark.parametrize(("spec", "rules"), [
    (standin.CO2_EMIS, {"out_of_bounds", "not_a_number"}),
    (standin.ELECTRICITY_PRODEX_5MIN, {"negative_production", "not_a_number", "out_of_bounds"}),
    (standin.POWER_SYSTEM_RIGHT_NOW, {"negative_production", "not_a_number", "out_of_bounds"}),
])
def test_bad_records_from_the_standin_land_in_quarantine_with_their_rules(spec, rules) -> None:
    params = {"start": "2025-06-21T09:00", "end": "2025-06-21T10:00", "timezone": "UTC"}
    records = standin_records(spec, params, bad_record_rate=1.0)
    batch = normalise(spec.name, records, STANDIN_NOW)
    assert {r.rule for r in batch.rejections} == rules
    assert sorted(r.record_index for r in batch.rejections) == list(range(len(records)))  # one per record
    assert batch.rejected_records == set()  # only the spoiled value is refused
    clean = normalise(spec.name, standin_records(spec, params), STANDIN_NOW)
    assert len(batch.observations) == len(clean.observations) - len(records)
