"""A record's identity and fate come from what it means, not how it is spelled or what else is
in its batch: every spelling of an interval is one key, invalid time text is refused with a
reason, booleans are refused in every batch, a record on another dataset's topic is refused."""

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.sources.odre import NATIONAL_TR
from energy_orchestration.streaming.consumer import prepare_batch
from energy_orchestration.streaming.envelope import encode
from tests.unit.test_prepare_batch import FETCHED, NOW, Message, wrap

FIXTURES = Path(__file__).parents[1] / "fixtures"
SPELLINGS = ["2026-04-08T21:30:00", "2026-04-08T21:30:00Z", "2026-04-08T21:30:00+00:00",
             "2026-04-08T21:30:00.000", "2026-04-08T21:30:00.000000Z", "2026-04-08T23:30:00+02:00",
             "2026-04-08T21:30"]
KEY = ["dataset", "zone", "quantity", "interval_start_utc"]


def test_every_spelling_of_an_interval_is_one_record(psrn_records):
    record = psrn_records[0]
    assert record["Minutes1UTC"] == "2026-04-08T21:30:00"
    messages = [Message(wrap(dict(record, Minutes1UTC=text)), offset) for offset, text in enumerate(SPELLINGS)]
    prepared = prepare_batch(messages, "group", NOW)
    assert prepared.landing.raw_records.record_key.tolist() == ["2026-04-08T21:30:00"]
    frame = prepared.landing.observations
    assert not frame.duplicated(KEY).any() and len(frame) == len(POWER_SYSTEM_RIGHT_NOW.mappings)
    assert prepared.landing.quarantine == [] and prepared.dead_letters == []
    # one message at a time (as separate batches would see them): always the same key
    for message in messages:
        assert prepare_batch([message], "group", NOW).landing.raw_records.record_key.tolist() == \
            ["2026-04-08T21:30:00"]


@pytest.mark.parametrize("text", ["2026-04-08T21:30:00\x00", "2026-04-08T21:30:00 junk", "2026-04-08T21:30:30",
                                  "2026-04-08T21:30:00.5", "08/04/2026 21:30", ""])
def test_invalid_time_text_is_refused_with_a_reason(psrn_records, text):
    prepared = prepare_batch([Message(wrap(dict(psrn_records[1], Minutes1UTC=text)), 1)], "group", NOW)
    assert prepared.landing.observations.empty and prepared.landing.raw_records.empty
    [row] = prepared.landing.quarantine
    assert row.rule == "missing_time" and repr(text) in row.reason
    assert [d.rule for d in prepared.dead_letters] == ["missing_time"]


def test_a_boolean_value_is_refused_whatever_else_is_in_the_batch(psrn_records):
    good, other = psrn_records
    flagged = dict(other, SolarPower=True)
    alone = prepare_batch([Message(wrap(flagged), 1)], "group", NOW)
    mixed = prepare_batch([Message(wrap(flagged), 1), Message(wrap(dict(good, OnshoreWindPower="n/a")), 2)],
                          "group", NOW)
    for prepared in (alone, mixed):
        refused = [q for q in prepared.landing.quarantine if q.quantity == "production_solar"]
        assert [(q.rule, q.reason) for q in refused] == [("not_a_number", "the value is neither a number nor "
                                                          "null: SolarPower=True")]
        frame = prepared.landing.observations
        assert frame[(frame.quantity == "production_solar")
                     & (frame.interval_start_utc == datetime(2026, 4, 8, 21, 29))].empty


def test_a_boolean_odre_value_is_refused_in_every_batch():
    record = json.loads((FIXTURES / "odre_eco2mix-national-tr_records_2026-08-27.json").read_text())["results"][0]
    now = datetime(2026, 9, 1, tzinfo=timezone.utc)
    alone = NATIONAL_TR.normalise([dict(record, solaire=True)], now)
    mixed = NATIONAL_TR.normalise([dict(record, solaire=True), dict(record, eolien="x")], now)
    for batch in (alone, mixed):
        assert [(r.rule, r.record_index) for r in batch.rejections if r.quantity == "production_solar"] == \
            [("not_a_number", 0)]


def test_odre_spellings_of_one_quarter_hour_share_a_key():
    record = json.loads((FIXTURES / "odre_eco2mix-national-tr_records_2026-08-27.json").read_text())["results"][0]
    texts = ["2026-08-27T07:45:00+00:00", "2026-08-27T07:45:00Z", "2026-08-27T09:45:00+02:00",
             "2026-08-27 07:45:00+00:00", "2026-08-27T07:45:00.000+00:00"]
    assert {NATIONAL_TR.record_key(dict(record, date_heure=t)) for t in texts} == {"2026-08-27T07:45:00+00:00"}
    batch = NATIONAL_TR.normalise([dict(record, date_heure=t) for t in texts],
                                  datetime(2026, 9, 1, tzinfo=timezone.utc))
    assert set(batch.record_keys) == {"2026-08-27T07:45:00+00:00"}
    nul = NATIONAL_TR.normalise([dict(record, date_heure="2026-08-27T07:45:00+00:00\x00")],
                                datetime(2026, 9, 1, tzinfo=timezone.utc))
    assert [r.rule for r in nul.rejections] == ["missing_time"]


def test_a_record_on_another_datasets_topic_is_refused(psrn_records):
    co2 = encode("energidataservice", "CO2Emis", {"Minutes5UTC": "2026-04-08T21:30:00", "PriceArea": "DK1",
                                                  "CO2Emission": 120.0}, FETCHED)
    prepared = prepare_batch([Message(co2, 5), Message(wrap(psrn_records[0]), 6)], "group", NOW)
    assert [(d.rule, d.offset) for d in prepared.dead_letters] == [("wrong_topic", 5)]
    assert "a CO2Emis record on topic energy.raw.powersystemrightnow" in prepared.dead_letters[0].reason
    assert set(prepared.landing.observations.dataset) == {"PowerSystemRightNow"}
    assert [q.rule for q in prepared.landing.quarantine] == ["wrong_topic"]
    assert prepared.next_offsets == {("energy.raw.powersystemrightnow", 0): 7}  # accounted for, not stuck

