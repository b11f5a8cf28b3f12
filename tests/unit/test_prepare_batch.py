"""What one consumer batch turns into, before any I/O: landed rows, quarantine, dead letters, offsets."""

import json
from datetime import datetime, timezone

from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.streaming.consumer import prepare_batch
from energy_orchestration.streaming.envelope import encode
from tests.kafka_fakes import Message

FETCHED = datetime(2026, 4, 8, 21, 31, tzinfo=timezone.utc)
NOW = datetime(2026, 4, 9, tzinfo=timezone.utc)


def wrap(record):
    return encode("energidataservice", "PowerSystemRightNow", record, FETCHED)


def test_a_batch_lands_good_records_and_keeps_every_refusal(psrn_records):
    good, other = psrn_records
    messages = [
        Message(wrap(good), 10),
        Message(b"garbage", 11),                                          # undecodable -> DLQ + quarantine
        Message(wrap(dict(other, Minutes1UTC="never")), 12),              # record-level -> DLQ + quarantine
        Message(wrap(dict(other, SolarPower=-3.0)), 7, partition=1),      # one value -> quarantine only
    ]
    prepared = prepare_batch(messages, "group", NOW)
    landing = prepared.landing
    mappings = len(POWER_SYSTEM_RIGHT_NOW.mappings)
    assert len(landing.observations) == mappings + (mappings - 1)
    assert set(landing.observations.kafka_offset) == {10, 7}
    assert sorted(landing.raw_records.record_key) == ["2026-04-08T21:29:00", "2026-04-08T21:30:00"]
    rules = sorted((q.stage, q.rule, q.source_id) for q in landing.quarantine)
    assert rules == [("decode", "undecodable", "energy.raw.powersystemrightnow/0/11"),
                     ("record", "missing_time", "energy.raw.powersystemrightnow/0/12"),
                     ("value", "negative_production", "energy.raw.powersystemrightnow/1/7")]
    assert sorted(d.offset for d in prepared.dead_letters) == [11, 12]
    assert all(d.reason for d in prepared.dead_letters)
    # every message is accounted for: offsets advance past all of them
    assert prepared.next_offsets == {("energy.raw.powersystemrightnow", 0): 13,
                                     ("energy.raw.powersystemrightnow", 1): 8}
    log = {row.dataset: row for row in landing.ingest_log}
    assert log["PowerSystemRightNow"].messages == 3 and log["(undecodable)"].messages == 1


def test_a_record_seen_twice_in_a_batch_lands_once_from_the_latest_fetch(psrn_records):
    later = encode("energidataservice", "PowerSystemRightNow", dict(psrn_records[0], SolarPower=9.0),
                   datetime(2026, 4, 8, 21, 40, tzinfo=timezone.utc))
    messages = [Message(later, 1), Message(wrap(psrn_records[0]), 2), Message(wrap(psrn_records[1]), 3)]
    prepared = prepare_batch(messages, "group", NOW)
    frame = prepared.landing.observations
    assert len(frame) == 2 * len(POWER_SYSTEM_RIGHT_NOW.mappings)
    assert not frame.duplicated(["dataset", "zone", "quantity", "interval_start_utc"]).any()
    solar = frame[(frame.quantity == "production_solar") & (frame.interval_start_utc == datetime(2026, 4, 8, 21, 30))]
    assert solar.value.tolist() == [9.0] and solar.kafka_offset.tolist() == [1]  # fetched later, though offset lower
    assert prepared.next_offsets == {("energy.raw.powersystemrightnow", 0): 4}
    assert prepared.landing.ingest_log[0].messages == 3


def test_each_ingest_log_row_carries_its_own_topics_lag(psrn_records):
    lag = {"energy.raw.powersystemrightnow/0": 4, "energy.raw.powersystemrightnow/1": 1, "energy.raw.co2emis/0": 9}
    messages = [Message(wrap(psrn_records[0]), 1), Message(b"garbage", 2)]
    log = {row.dataset: row for row in prepare_batch(messages, "group", NOW, lag=lag).landing.ingest_log}
    assert json.loads(log["PowerSystemRightNow"].lag) == {"energy.raw.powersystemrightnow/0": 4,
                                                          "energy.raw.powersystemrightnow/1": 1}
    assert json.loads(log["(undecodable)"].lag) == {}
    assert json.loads(prepare_batch(messages, "group", NOW).landing.ingest_log[0].lag) == {}


def test_the_ingest_log_keeps_each_partitions_first_and_last_offset(psrn_records):
    good, _ = psrn_records
    minutes = [dict(good, Minutes1UTC=f"2026-04-08T21:{m:02d}:00") for m in range(10, 15)]
    messages = [Message(wrap(minutes[0]), 40, partition=2), Message(wrap(minutes[1]), 5),
                Message(wrap(minutes[2]), 9), Message(wrap(minutes[3]), 38, partition=2),
                Message(wrap(minutes[4]), 7)]
    row = prepare_batch(messages, "group", NOW).landing.ingest_log[0]
    # in order of first appearance; first/last are the smallest/largest offset, not arrival order
    assert json.loads(row.offsets) == {"energy.raw.powersystemrightnow/2": [38, 40],
                                       "energy.raw.powersystemrightnow/0": [5, 9]}
    assert list(json.loads(row.offsets)) == ["energy.raw.powersystemrightnow/2", "energy.raw.powersystemrightnow/0"]
