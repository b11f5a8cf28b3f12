"""The ODRÉ éCO2mix parser on the real recorded payloads, and every quirk of the contract."""

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from energy_orchestration.model import QUANTITIES, ZONES, bounds_for
from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.odre import NATIONAL_TR, REGIONAL_CONS_DEF, REGIONAL_TR, normalise

FIXTURES = Path(__file__).parents[1] / "fixtures"
NOW = datetime(2026, 9, 1, tzinfo=timezone.utc)
REGIONAL = "eco2mix-regional-tr"
NATIONAL = "eco2mix-national-tr"


@pytest.fixture
def regional_records() -> list[dict]:
    """Real /records page: 12 regions x 2 quarter-hours, 2026-08-27."""
    return json.loads((FIXTURES / "odre_eco2mix-regional-tr_records_2026-08-27.json").read_text())["results"]


@pytest.fixture
def national_records() -> list[dict]:
    """Real /records page: 3 quarter-hours, 2026-08-27, every number an integer."""
    return json.loads((FIXTURES / "odre_eco2mix-national-tr_records_2026-08-27.json").read_text())["results"]


@pytest.fixture
def national_export() -> list[dict]:
    """Real /exports/json array: 96 scattered quarter-hours of 2025-01-01..06, some numbers strings."""
    return json.loads((FIXTURES / "odre_eco2mix-national-tr_export_2025-01-01.json").read_text())


def value(frame, zone, quantity, stamp):
    rows = frame[(frame.zone == zone) & (frame.quantity == quantity)
                 & (frame.interval_start_utc == datetime.fromisoformat(stamp))]
    assert len(rows) == 1, (zone, quantity, stamp, rows)
    return rows.value.iloc[0]


def quantities_of(frame, record_index):
    return set(frame[frame.record_index == record_index].quantity)


# --- the recorded payloads -----------------------------------------------------------------------

def test_regional_page_melts_into_one_zone_per_region(regional_records):
    batch = normalise(REGIONAL, regional_records, NOW)
    frame = batch.observations
    assert batch.rejections == [] and batch.skipped == {} and batch.rejected_records == set()
    assert len(frame) == len(regional_records) * len(REGIONAL_TR.mappings)  # no nulls in this page
    assert set(frame.zone) == {f"FR-{code}" for code in ("11", "24", "27", "28", "32", "44", "52", "53",
                                                         "75", "76", "84", "93")}
    assert set(frame.zone) <= set(ZONES) and set(frame.quantity) <= set(QUANTITIES)
    assert set(frame.interval_start_utc.astype(str)) == {"2026-08-27 07:45:00", "2026-08-27 07:30:00"}
    assert (frame.interval_minutes == 15).all() and set(frame.status) == {"realtime"}
    assert value(frame, "FR-84", "production_nuclear", "2026-08-27T07:45") == 11160
    assert value(frame, "FR-32", "production_wind_onshore", "2026-08-27T07:45") == 653  # regional eolien
    assert value(frame, "FR-32", "production_nuclear", "2026-08-27T07:45") == 842
    assert value(frame, "FR-32", "production_thermal_other", "2026-08-27T07:45") == 894
    assert batch.record_keys[0] == "2026-08-27T07:45:00+00:00|75"
    assert batch.record_times[0] == datetime(2026, 8, 27, 7, 45)


def test_string_numbers_become_numbers(regional_records):
    frame = normalise(REGIONAL, regional_records, NOW).observations
    assert value(frame, "FR-27", "pumping", "2026-08-27T07:45") == -66        # "pompage": "-66"
    assert value(frame, "FR-75", "storage_charge", "2026-08-27T07:30") == -69  # "stockage_batterie": "-69"
    assert value(frame, "FR-53", "storage_discharge", "2026-08-27T07:45") == 5  # "destockage_batterie": "5"
    assert value(frame, "FR-75", "pumping", "2026-08-27T07:45") == 0


def test_exchange_sign_is_kept_because_positive_already_means_import(regional_records):
    """consommation = production + pompage + ech_physiques + batteries in the published data,
    so ech_physiques > 0 is a net import (our convention) and must not be flipped."""
    frame = normalise(REGIONAL, regional_records, NOW).observations
    for index in range(len(regional_records)):
        rows = frame[frame.record_index == index].set_index("quantity").value
        supply = (rows.filter(like="production_").sum() + rows["pumping"] + rows["exchange_net"]
                  + rows["storage_charge"] + rows["storage_discharge"])
        assert rows["consumption"] == pytest.approx(supply, abs=70), regional_records[index]["code_insee_region"]
    assert value(frame, "FR-11", "exchange_net", "2026-08-27T07:45") == 6478     # Paris imports
    assert value(frame, "FR-84", "exchange_net", "2026-08-27T07:45") == -7781    # Rhône-Alpes exports


def test_national_page_uses_the_wind_split_and_not_the_total(national_records):
    batch = normalise(NATIONAL, national_records, NOW)
    frame = batch.observations
    assert batch.rejections == [] and set(frame.zone) == {"FR"}
    assert len(frame) == 3 * len(NATIONAL_TR.mappings)
    stamp = "2026-08-27T07:45"
    assert value(frame, "FR", "production_wind_onshore", stamp) == 3322
    assert value(frame, "FR", "production_wind_offshore", stamp) == 210
    wind = frame[frame.quantity.astype(str).str.startswith("production_wind")]
    assert wind.value.sum() == sum(r["eolien"] for r in national_records)  # no double counting
    assert value(frame, "FR", "production_gas", stamp) == 2264
    assert value(frame, "FR", "production_oil", stamp) == 37
    assert value(frame, "FR", "production_coal", stamp) == 0
    assert value(frame, "FR", "pumping", stamp) == -66
    assert value(frame, "FR", "exchange_net", stamp) == -3633  # France exporting
    assert value(frame, "FR", "consumption_forecast_d0", stamp) == 45950
    assert value(frame, "FR", "consumption_forecast_d1", stamp) == 46550
    assert value(frame, "FR", "co2_intensity_reported", stamp) == 30
    assert set(frame[frame.quantity == "co2_intensity_reported"].unit) == {"gCO2eq/kWh"}
    assert batch.record_keys == [r["date_heure"] for r in national_records]
    # sub-types, commercial exchanges and the total eolien stay in the raw record only
    assert not {"gaz_ccg", "ech_comm_espagne", "eolien"} & set(frame.quantity)


def test_export_with_string_typed_fields_and_scattered_rows(national_export):
    batch = normalise(NATIONAL, national_export, NOW)
    frame = batch.observations
    assert batch.rejections == [] and batch.skipped == {}
    assert len(frame) == 96 * len(NATIONAL_TR.mappings)
    assert frame.interval_start_utc.nunique() == 96
    stamp = "2024-12-31T23:15"  # local 2025-01-01 00:15
    assert value(frame, "FR", "production_wind_onshore", stamp) == 9587  # "9587"
    assert value(frame, "FR", "production_wind_offshore", stamp) == 1356
    assert value(frame, "FR", "storage_charge", stamp) == -10           # "-10"
    assert value(frame, "FR", "storage_discharge", stamp) == 2


# --- quirks --------------------------------------------------------------------------------------

@pytest.mark.parametrize("absent", ["ND", "", None, " nd "])
def test_nd_empty_and_null_are_absent_not_errors(regional_records, absent):
    record = dict(regional_records[0], solaire=absent, pompage=absent)
    batch = normalise(REGIONAL, [record], NOW)
    assert batch.rejections == [] and batch.rejected_records == set()
    assert quantities_of(batch.observations, 0) == {m.quantity for m in REGIONAL_TR.mappings} - {
        "production_solar", "pumping"}


def test_garbage_is_rejected_value_by_value_and_the_rest_lands(regional_records):
    record = dict(regional_records[0], nucleaire="lots", stockage_batterie=[1])
    batch = normalise(REGIONAL, [record, regional_records[1]], NOW)
    rules = sorted((r.rule, r.quantity, r.zone) for r in batch.rejections)
    assert rules == [("not_a_number", "production_nuclear", "FR-75"), ("not_a_number", "storage_charge", "FR-75")]
    assert "nucleaire='lots'" in " ".join(r.reason for r in batch.rejections)
    assert all(r.record_key == "2026-08-27T07:45:00+00:00|75" for r in batch.rejections)
    assert quantities_of(batch.observations, 0) == {m.quantity for m in REGIONAL_TR.mappings} - {
        "production_nuclear", "storage_charge"}
    assert len(quantities_of(batch.observations, 1)) == len(REGIONAL_TR.mappings)


def future_row(template: dict, stamp: str) -> dict:
    """A forecast-only national row, as the real-time set holds for the rest of the day."""
    row = {k: None for k in template}
    row.update(perimetre="France", nature="Données temps réel", date=stamp[:10], heure="23:00",
               date_heure=stamp, prevision_j1=51000, prevision_j=50500)
    return row


def test_future_forecast_only_rows_are_skipped_and_counted(national_records):
    future = [future_row(national_records[0], "2026-08-27T21:00:00+00:00"),
              future_row(national_records[0], "2026-08-27T21:15:00+00:00")]
    garbage_time = dict(national_records[1], date_heure="yesterday")
    records = [*national_records, *future, garbage_time]
    now = datetime(2026, 8, 27, 8, 0, tzinfo=timezone.utc)
    batch = normalise(NATIONAL, records, now)
    assert batch.skipped == {"forecast_only": 2}
    assert [r.rule for r in batch.rejections] == ["missing_time"] and batch.rejected_records == {5}
    landed = set(batch.observations.record_index)
    assert landed == {0, 1, 2}
    assert len(landed) + len(batch.rejected_records) + sum(batch.skipped.values()) == len(records)
    assert batch.record_keys[3] == "2026-08-27T21:00:00+00:00"  # skipped rows keep their key and time
    assert batch.record_times[3] == datetime(2026, 8, 27, 21, 0)


def test_a_row_with_nothing_at_all_is_skipped_as_empty(regional_records):
    empty = {k: (v if k in ("code_insee_region", "date_heure", "nature") else None)
             for k, v in regional_records[0].items()}
    batch = normalise(REGIONAL, [empty], NOW)
    assert batch.skipped == {"no_values": 1} and batch.rejections == [] and batch.observations.empty


def test_future_rows_with_measurements_are_out_of_range(national_records):
    batch = normalise(NATIONAL, national_records, datetime(2026, 8, 27, 7, 0, tzinfo=timezone.utc))
    assert {r.rule for r in batch.rejections} == {"time_out_of_range"}
    assert batch.rejected_records == {0, 1}  # 07:45 and 07:30 start after now + one interval; 07:15 does not


@pytest.mark.parametrize("nature, status", [
    ("Données temps réel", "realtime"),
    ("Données consolidées", "consolidated"),
    ("Données définitives", "definitive"),
    ("Donnees consolidees", "consolidated"),
    (None, "realtime"),            # missing: the dataset's default
    ("something new", "realtime"),
])
def test_status_follows_nature(national_records, nature, status):
    batch = normalise(NATIONAL, [dict(national_records[0], nature=nature)], NOW)
    assert set(batch.observations.status) == {status}


def test_a_revision_has_the_same_key_and_the_later_status(regional_records):
    realtime = regional_records[0]
    revised = dict(realtime, nature="Données consolidées", consommation=4242)
    first = normalise(REGIONAL, [realtime], NOW)
    second = normalise(REGIONAL, [revised], NOW)
    assert first.record_keys == second.record_keys == [REGIONAL_TR.record_key(realtime)]
    key_columns = ["zone", "quantity", "interval_start_utc"]
    a = first.observations.set_index(key_columns)
    b = second.observations.set_index(key_columns)
    assert a.index.equals(b.index)  # same natural keys: the landing upsert replaces, never duplicates
    assert set(b.status) == {"consolidated"} and set(a.status) == {"realtime"}
    assert b.value.loc[("FR-75", "consumption", datetime(2026, 8, 27, 7, 45))] == 4242


def dst_rows(template: dict) -> list[dict]:
    """2025-10-26 in Europe/Paris: local 02:00-02:45 twice (CEST 00:00-00:45 UTC, CET 01:00-01:45 UTC)."""
    rows = []
    for utc_minute in range(0, 120, 15):
        stamp = datetime(2025, 10, 26, 0, 0, tzinfo=timezone.utc) + timedelta(minutes=utc_minute)
        local = f"02:{utc_minute % 60:02d}"
        rows.append(dict(template, date="2025-10-26", heure=local, date_heure=stamp.isoformat()))
    return rows


def test_the_repeated_autumn_hour_lands_twice_with_distinct_keys(regional_records):
    rows = dst_rows(regional_records[0])
    assert len({(r["date"], r["heure"]) for r in rows}) == 4  # the local labels collide...
    batch = normalise(REGIONAL, rows, NOW)
    assert batch.rejections == []
    assert len(set(batch.record_keys)) == 8                     # ...the keys do not
    starts = sorted(set(batch.observations.interval_start_utc))
    assert len(starts) == 8
    assert starts[0] == datetime(2025, 10, 26, 0, 0) and starts[-1] == datetime(2025, 10, 26, 1, 45)


def test_time_in_another_output_zone_is_normalised_to_utc(national_records):
    local = dict(national_records[0], date_heure="2026-08-27T09:45:00+02:00")
    batch = normalise(NATIONAL, [local], NOW)
    assert batch.record_keys == ["2026-08-27T07:45:00+00:00"] == [NATIONAL_TR.record_key(local)]
    assert set(batch.observations.interval_start_utc) == {datetime(2026, 8, 27, 7, 45)}


def test_total_wind_is_used_only_when_the_split_is_missing(national_records):
    old = dict(national_records[0], eolien_terrestre=None, eolien_offshore=None)
    frame = normalise(NATIONAL, [old], NOW).observations
    assert value(frame, "FR", "production_wind_onshore", "2026-08-27T07:45") == 3532  # the total
    assert "production_wind_offshore" not in set(frame.quantity)


@pytest.mark.parametrize("field, bad, rule", [
    ("solaire", -5, "negative_production"),
    ("nucleaire", 10**9, "out_of_bounds"),
    ("pompage", "120", "out_of_bounds"),          # pumping is <= 0
    ("destockage_batterie", "-3", "out_of_bounds"),
])
def test_value_rules(regional_records, field, bad, rule):
    batch = normalise(REGIONAL, [dict(regional_records[0], **{field: bad})], NOW)
    assert [r.rule for r in batch.rejections] == [rule]
    assert len(batch.observations) == len(REGIONAL_TR.mappings) - 1 and batch.rejected_records == set()


def test_bounds_allow_the_published_signs():
    assert bounds_for("pumping").low < 0 and bounds_for("pumping").high == 0
    assert bounds_for("storage_charge").low < 0 and bounds_for("storage_discharge").low == 0
    assert bounds_for("consumption_forecast_d0") == bounds_for("consumption")


def test_records_that_cannot_be_placed_are_rejected_whole(regional_records):
    no_region = {k: v for k, v in regional_records[0].items() if k != "code_insee_region"}
    corsica = dict(regional_records[3], code_insee_region="94")  # not one of the 12 published regions
    batch = normalise(REGIONAL, ["junk", no_region, dict(regional_records[1], date_heure=None),
                                 regional_records[2], corsica], NOW)
    assert [(r.rule, r.record_index) for r in batch.rejections] == [
        ("not_an_object", 0), ("missing_time", 2), ("unknown_zone", 1), ("unknown_zone", 4)]
    assert batch.rejected_records == {0, 1, 2, 4} and set(batch.observations.record_index) == {3}


def test_consolidated_history_is_30_minutes_and_consolidated_by_default(regional_records):
    record = {k: v for k, v in regional_records[0].items() if k not in ("nature", "column_68")}
    batch = normalise("eco2mix-regional-cons-def", [record], NOW)
    assert set(batch.observations.interval_minutes) == {30} and set(batch.observations.status) == {"consolidated"}


def test_the_datasets_are_registered_for_the_platform(regional_records, national_records):
    for spec in (REGIONAL_TR, NATIONAL_TR, REGIONAL_CONS_DEF):
        assert DATASETS[spec.name] is spec and spec.provider == "odre"
    assert REGIONAL_TR.message_zone(regional_records[0]) == "FR-75"
    assert NATIONAL_TR.message_zone(national_records[0]) == "FR"
    assert REGIONAL_TR.record_time(regional_records[0]) == datetime(2026, 8, 27, 7, 45)
    assert REGIONAL_TR.interval_minutes == 15 and REGIONAL_CONS_DEF.interval_minutes == 30


def test_a_large_batch_with_odd_values_is_parsed_column_wise(regional_records):
    """20,000+ records, string numbers throughout and a few "ND": every value accounted for."""
    records = []
    for copy in range(850):
        for record in regional_records:
            stamp = datetime.fromisoformat(record["date_heure"]) - timedelta(minutes=30 * copy)
            records.append(dict(record, date_heure=stamp.isoformat()))
    for index in range(0, len(records), 1000):
        records[index] = dict(records[index], solaire="ND")
    batch = normalise(REGIONAL, records, NOW)
    assert len(records) == 20_400 and batch.rejections == []
    assert len(batch.observations) == len(records) * len(REGIONAL_TR.mappings) - 21
    assert len(set(batch.record_keys)) == len(records)
    assert np.isfinite(batch.observations.value.to_numpy()).all()
