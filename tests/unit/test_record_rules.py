"""Rules that look at more than one value: all-zero records, spikes, unknown fields."""

from datetime import datetime, timedelta, timezone

from energy_orchestration.model import apply_record_rules
from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.energidataservice import normalise
from energy_orchestration.streaming.consumer import _unknown_fields

NOW = datetime(2026, 4, 9, tzinfo=timezone.utc)


def minutes(base: dict, count: int, **per_minute) -> list[dict]:
    """`count` consecutive minutes of `base`, with columns overridden per minute from lists."""
    start = datetime(2026, 4, 8, 20, 0)
    out = []
    for i in range(count):
        record = dict(base, Minutes1UTC=(start + timedelta(minutes=i)).isoformat())
        for column, values in per_minute.items():
            record[column] = values[i]
        out.append(record)
    return out


def rules_of(batch):
    return sorted((r.rule, r.quantity, r.record_key[-8:]) for r in batch.rejections)


def test_an_all_zero_record_is_rejected_whole(psrn_records):
    zero = {k: (0.0 if isinstance(v, float) else v) for k, v in psrn_records[0].items()}
    batch = apply_record_rules(normalise("PowerSystemRightNow", [psrn_records[1], zero], NOW), "PowerSystemRightNow")
    assert [r.rule for r in batch.rejections] == ["all_zero"]
    assert batch.rejected_records == {1}
    assert set(batch.observations.record_index) == {0}


def test_a_spike_is_rejected_and_its_neighbours_kept(psrn_records):
    wind = [1000.0, 1010.0, 9000.0, 1020.0, 1030.0]
    batch = apply_record_rules(normalise("PowerSystemRightNow", minutes(psrn_records[0], 5, OnshoreWindPower=wind),
                                         NOW), "PowerSystemRightNow")
    assert rules_of(batch) == [("implausible_jump", "production_wind_onshore", "20:02:00")]
    kept = batch.observations[batch.observations.quantity == "production_wind_onshore"]
    assert sorted(kept.value) == [1000.0, 1010.0, 1020.0, 1030.0]
    assert "1010 -> 9000 -> 1020" in batch.rejections[0].reason


def test_a_steep_but_steady_ramp_is_not_a_spike(psrn_records):
    ramp = [1000.0, 2000.0, 3000.0, 4000.0]  # 1 GW a minute, one direction: believe it
    batch = apply_record_rules(normalise("PowerSystemRightNow", minutes(psrn_records[0], 4, OnshoreWindPower=ramp),
                                         NOW), "PowerSystemRightNow")
    assert batch.rejections == []


def test_fields_outside_the_contract_are_reported_once_per_record(psrn_records):
    drifted = dict(psrn_records[0], Exchange_DK1_PL=12.0)
    found = _unknown_fields([psrn_records[1], drifted, "not a record"], DATASETS["PowerSystemRightNow"])
    assert found == [(1, ["Exchange_DK1_PL"])]


def test_the_recorded_payloads_have_no_unknown_fields(psrn_records):
    import json
    from pathlib import Path

    fixtures = Path(__file__).parents[1] / "fixtures"
    prodex = json.loads((fixtures / "eds_ElectricityProdex5MinRealtime_2025-02-21.json").read_text())["records"]
    regional = json.loads((fixtures / "odre_eco2mix-regional-tr_records_2026-08-27.json").read_text())["results"]
    national = json.loads((fixtures / "odre_eco2mix-national-tr_records_2026-08-27.json").read_text())["results"]
    assert _unknown_fields(psrn_records, DATASETS["PowerSystemRightNow"]) == []
    assert _unknown_fields(prodex, DATASETS["ElectricityProdex5MinRealtime"]) == []
    assert _unknown_fields(regional, DATASETS["eco2mix-regional-tr"]) == []
    assert _unknown_fields(national, DATASETS["eco2mix-national-tr"]) == []


def test_zone_specific_bounds_refine_the_general_ones(psrn_records):
    # 9,000 MW of onshore wind passes the general production bound but not Denmark's capacity
    record = dict(psrn_records[0], OnshoreWindPower=9_000.0, OffshoreWindPower=5_000.0)
    batch = apply_record_rules(normalise("PowerSystemRightNow", [record], NOW), "PowerSystemRightNow")
    assert batch.rejections == []  # each below 12,000 MW
    record = dict(psrn_records[0], OnshoreWindPower=13_000.0)
    batch = apply_record_rules(normalise("PowerSystemRightNow", [record], NOW), "PowerSystemRightNow")
    [rejection] = batch.rejections
    assert (rejection.rule, rejection.zone, rejection.quantity) == ("zone_bounds", "DK", "production_wind_onshore")
    assert "in DK: 13000" in rejection.reason
    assert "production_wind_onshore" not in set(batch.observations.quantity)
