"""The latest-values cache: newest interval wins, messages per (topic, zone), bad input counted."""

from datetime import datetime

from energy_orchestration.serving.cache import LatestCache, Reading
from energy_orchestration.serving.feeder import FeederStats, readings_from_messages
from energy_orchestration.streaming.envelope import encode
from energy_orchestration.streaming.topics import raw_topic

TOPICS = {"PowerSystemRightNow": "t.raw.powersystemrightnow", "eco2mix-regional-tr": "t.raw.eco2mix-regional-tr"}


def reading(minute: int, value: float, quantity: str = "consumption", zone: str = "DK-DK1",
            dataset: str = "PowerSystemRightNow") -> Reading:
    return Reading(dataset, zone, quantity, datetime(2026, 11, 23, 12, minute), 1, value, "MW", "realtime")


def test_newer_intervals_replace_older_ones_never_the_reverse():
    cache = LatestCache()
    cache.apply(TOPICS, [reading(5, 100.0)])
    cache.apply(TOPICS, [reading(3, 999.0)])            # a late row: pushed, but not "latest"
    assert [r.value for r in cache.latest("DK-DK1")] == [100.0]
    cache.apply(TOPICS, [reading(5, 101.0)])            # the same interval re-fetched: corrected
    cache.apply(TOPICS, [reading(6, 102.0)])
    assert [(r.interval_start_utc.minute, r.value) for r in cache.latest()] == [(6, 102.0)]


def test_every_record_makes_a_message_and_the_snapshot_keeps_the_newest_per_topic_and_zone():
    cache = LatestCache()
    messages = cache.apply(TOPICS, [reading(5, 1.0), reading(5, 2.0, "exchange_de"), reading(5, 3.0, zone="DK-DK2"),
                                    reading(4, 4.0)])
    assert [(m["zone"], m["interval_start_utc"], sorted(m["values"])) for m in messages] == [
        ("DK-DK1", "2026-11-23T12:05:00Z", ["consumption", "exchange_de"]),
        ("DK-DK2", "2026-11-23T12:05:00Z", ["consumption"]),
        ("DK-DK1", "2026-11-23T12:04:00Z", ["consumption"])]
    cache.apply(TOPICS, [reading(5, 5.0, "solar_extra")])  # more values of the same interval merge in
    snapshot = cache.snapshot()
    assert [(m["topic"], m["zone"]) for m in snapshot] == [(TOPICS["PowerSystemRightNow"], "DK-DK1"),
                                                           (TOPICS["PowerSystemRightNow"], "DK-DK2")]
    assert sorted(snapshot[0]["values"]) == ["consumption", "exchange_de", "solar_extra"]
    assert snapshot[0]["values"]["consumption"] == {"value": 1.0, "unit": "MW"}


class FakeMessage:
    def __init__(self, value: bytes | None, offset: int = 0) -> None:
        self._value, self._offset = value, offset

    def topic(self): return raw_topic("PowerSystemRightNow")
    def partition(self): return 0
    def offset(self): return self._offset
    def key(self): return b"DK"
    def value(self): return self._value
    def error(self): return None


def test_feeder_normalises_like_the_landing_consumer_and_counts_bad_messages(psrn_records, monkeypatch):
    now = datetime(2026, 4, 8, 21, 31)
    monkeypatch.setenv("ENERGY_CLOCK_NOW", "2026-04-08T21:31:00Z")  # the recording's "now": never "in the future"
    good = [FakeMessage(encode("energidataservice", "PowerSystemRightNow", r, now), i)
            for i, r in enumerate(psrn_records)]
    bad = [FakeMessage(b"{not json", 10), FakeMessage(None, 11)]
    stats = FeederStats()
    readings = readings_from_messages(good + bad, stats)
    assert stats.messages == len(good) + 2 and stats.bad_messages == 2 and stats.parse_errors == 0
    dk1 = {(r.quantity, r.interval_start_utc.minute): r.value for r in readings if r.zone == "DK-DK1"}
    assert dk1[("exchange_de", 30)] == psrn_records[0]["Exchange_DK1_DE"]
    assert {r.dataset for r in readings} == {"PowerSystemRightNow"} and stats.readings == len(readings)
