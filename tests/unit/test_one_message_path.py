"""The landing consumer and the API's cache feeder read Kafka messages through one function, so
the live cache shows exactly the rows the warehouse lands."""

import json
from datetime import datetime, timezone

from energy_orchestration.model import utc_now
from energy_orchestration.serving.cache import readings_from_frame
from energy_orchestration.serving.feeder import FeederStats, readings_from_messages
from energy_orchestration.streaming.consumer import prepare_batch
from energy_orchestration.streaming.envelope import encode
from energy_orchestration.streaming.topics import raw_topic
from tests.conftest import FIXTURES
from tests.kafka_fakes import Message

FETCHED = datetime(2026, 8, 27, 8, 0, tzinfo=timezone.utc)


def messages(psrn_records):
    """Both providers; good rows, a re-fetch of the same record, a bad value, a record refused
    whole, spoiled bytes and a record on another dataset's topic."""
    eds, odre = raw_topic("PowerSystemRightNow"), raw_topic("eco2mix-regional-tr")
    regional = json.loads((FIXTURES / "odre_eco2mix-regional-tr_records_2026-08-27.json").read_text())["results"]

    def psrn(record, fetched=FETCHED):
        return encode("energidataservice", "PowerSystemRightNow", record, fetched)

    def eco2mix(record):
        return encode("odre", "eco2mix-regional-tr", record, FETCHED)

    out = [Message(psrn(r), i, topic=eds) for i, r in enumerate(psrn_records)]
    out += [Message(psrn(dict(psrn_records[0], SolarPower=7.0), datetime(2026, 8, 27, 8, 5, tzinfo=timezone.utc)),
                    5, partition=1, topic=eds),                                      # re-fetched: the later one wins
            Message(psrn(dict(psrn_records[1], OnshoreWindPower=-9.0)), 6, topic=eds),  # one value refused
            Message(psrn(dict(psrn_records[1], Minutes1UTC="never")), 7, topic=eds),    # record refused whole
            Message(b"{not json", 8, topic=eds),
            Message(psrn(psrn_records[0]), 9, topic=odre)]                              # wrong topic
    out += [Message(eco2mix(r), 20 + i, topic=odre) for i, r in enumerate(regional)]
    out.append(Message(eco2mix(dict(regional[0], nucleaire="lots")), 40, topic=odre))
    return out


def test_the_consumer_and_the_feeder_make_identical_rows_from_the_same_messages(psrn_records, monkeypatch):
    monkeypatch.setenv("ENERGY_CLOCK_NOW", "2026-08-27T08:10:00Z")
    batch = messages(psrn_records)
    landed = readings_from_frame(prepare_batch(batch, "group", utc_now()).landing.observations)
    stats = FeederStats()
    cached = readings_from_messages(batch, stats)

    def key(r):
        return (r.dataset, r.zone, r.quantity, r.interval_start_utc)

    assert sorted(cached, key=key) == sorted(landed, key=key)
    assert {r.dataset for r in cached} == {"PowerSystemRightNow", "eco2mix-regional-tr"}
    solar = [r.value for r in cached if r.quantity == "production_solar" and r.dataset == "PowerSystemRightNow"
             and r.interval_start_utc == datetime(2026, 4, 8, 21, 30)]
    assert solar == [7.0]  # the newest fetch of a record, in both
    assert stats.bad_messages == 2 and stats.parse_errors == 0
