"""The Energi Data Service parser on the real recorded payload, and each rejection rule."""

from datetime import datetime, timezone

import pytest

from energy_orchestration.model import QUANTITIES, ZONES
from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW, normalise

NOW = datetime(2026, 4, 9, tzinfo=timezone.utc)


def value(frame, zone, quantity, minute):
    rows = frame[(frame.zone == zone) & (frame.quantity == quantity)
                 & (frame.interval_start_utc == datetime.fromisoformat(minute))]
    assert len(rows) == 1, (zone, quantity, minute, rows)
    return rows.value.iloc[0]


def test_recorded_payload_melts_into_canonical_rows(psrn_records):
    batch = normalise("PowerSystemRightNow", psrn_records, NOW)
    frame = batch.observations
    assert batch.rejections == []
    # 23 provider columns -> 23 observations per record (DK1<->DK2 counted for both areas)
    assert len(frame) == 2 * len(POWER_SYSTEM_RIGHT_NOW.mappings)
    assert set(frame.zone) == {"DK", "DK-DK1", "DK-DK2"}
    assert set(frame.zone) <= set(ZONES) and set(frame.quantity) <= set(QUANTITIES)
    assert set(frame.interval_start_utc.astype(str)) == {"2026-04-08 21:30:00", "2026-04-08 21:29:00"}
    assert (frame.interval_minutes == 1).all() and (frame.status == "realtime").all()
    assert value(frame, "DK", "co2_intensity_reported", "2026-04-08T21:30") == 107.0
    assert value(frame, "DK", "production_wind_offshore", "2026-04-08T21:29") == pytest.approx(1033.199951)
    assert value(frame, "DK-DK1", "exchange_gb", "2026-04-08T21:30") == pytest.approx(-697.849976)
    assert value(frame, "DK-DK2", "exchange_bornholm_se", "2026-04-08T21:30") == pytest.approx(25.18)
    # the Great Belt link is seen from both sides with opposite signs
    assert value(frame, "DK-DK1", "exchange_dk2", "2026-04-08T21:30") == pytest.approx(77.769997)
    assert value(frame, "DK-DK2", "exchange_dk1", "2026-04-08T21:30") == pytest.approx(-77.769997)
    assert set(frame[frame.quantity == "co2_intensity_reported"].unit) == {"gCO2eq/kWh"}
    assert batch.record_keys == ["2026-04-08T21:30:00", "2026-04-08T21:29:00"]


def test_missing_and_null_columns_are_absent_not_errors(psrn_records):
    old = dict(psrn_records[0])
    del old["Exchange_DK1_GB"]          # rows before the GB link existed lack the column
    old["ImbalanceDK1"] = None          # null: does not apply
    batch = normalise("PowerSystemRightNow", [old], NOW)
    assert batch.rejections == []
    quantities = set(zip(batch.observations.zone, batch.observations.quantity, strict=False))
    assert ("DK-DK1", "exchange_gb") not in quantities
    assert ("DK-DK1", "balancing_imbalance") not in quantities
    assert len(batch.observations) == len(POWER_SYSTEM_RIGHT_NOW.mappings) - 2


def test_numeric_strings_are_accepted_and_garbage_is_rejected_with_its_reason(psrn_records):
    record = dict(psrn_records[0], SolarPower="12.5", OnshoreWindPower="lots")
    batch = normalise("PowerSystemRightNow", [record], NOW)
    assert value(batch.observations, "DK", "production_solar", "2026-04-08T21:30") == 12.5
    [rejection] = batch.rejections
    assert rejection.rule == "not_a_number" and "OnshoreWindPower='lots'" in rejection.reason
    assert rejection.record_key == "2026-04-08T21:30:00"
    assert ("DK", "production_wind_onshore") not in set(
        zip(batch.observations.zone, batch.observations.quantity, strict=False))


@pytest.mark.parametrize("column, bad, rule", [
    ("SolarPower", -5.0, "negative_production"),
    ("OffshoreWindPower", 1e9, "out_of_bounds"),
    ("CO2Emission", 5000.0, "out_of_bounds"),
    ("Exchange_DK1_DE", -1e6, "out_of_bounds"),
])
def test_value_rules_reject_single_values(psrn_records, column, bad, rule):
    batch = normalise("PowerSystemRightNow", [dict(psrn_records[0], **{column: bad})], NOW)
    assert [r.rule for r in batch.rejections] == [rule]
    assert batch.rejections[0].value == bad
    # the rest of the record still lands
    assert len(batch.observations) == len(POWER_SYSTEM_RIGHT_NOW.mappings) - 1
    assert batch.rejected_records == set()


def test_exchanges_may_be_negative(psrn_records):
    batch = normalise("PowerSystemRightNow", [dict(psrn_records[0], Exchange_DK1_DE=-2400.0)], NOW)
    assert batch.rejections == []


@pytest.mark.parametrize("record_change, rule", [
    ({"Minutes1UTC": None}, "missing_time"),
    ({"Minutes1UTC": "yesterday"}, "missing_time"),
    ({"Minutes1UTC": "2036-01-01T00:00:00"}, "time_out_of_range"),
    ({"Minutes1UTC": "1999-12-31T23:59:00"}, "time_out_of_range"),
])
def test_records_without_a_usable_time_are_rejected_whole(psrn_records, record_change, rule):
    good, bad = psrn_records[1], dict(psrn_records[0], **record_change)
    batch = normalise("PowerSystemRightNow", [good, bad], NOW)
    assert [r.rule for r in batch.rejections] == [rule]
    assert batch.rejected_records == {1}
    assert set(batch.observations.record_index) == {0}


def test_a_record_that_is_not_an_object_is_rejected(psrn_records):
    batch = normalise("PowerSystemRightNow", [psrn_records[0], ["not", "a", "record"]], NOW)
    assert [r.rule for r in batch.rejections] == ["not_an_object"]
    assert batch.rejected_records == {1}
    assert len(batch.observations) == len(POWER_SYSTEM_RIGHT_NOW.mappings)
