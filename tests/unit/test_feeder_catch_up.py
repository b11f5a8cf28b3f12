"""The API's cache feeder says "caught up" (and starts pushing) only at the high watermarks its
fetches report, never because a poll came back empty: a held fetch also returns nothing, and
the rest of the replay would then reach every WebSocket client as new records.

The Kafka client is faked (I/O only); the feeder's own loop runs for real in its thread."""

import time
from types import SimpleNamespace

from energy_orchestration.serving import feeder as feeder_module
from energy_orchestration.serving.cache import LatestCache
from energy_orchestration.serving.feeder import CacheFeeder


class HeldFetchConsumer:
    """A client whose fetches are held by the broker: polls return nothing, while the one
    partition's last fetch reported a backlog (high watermark 3, nothing read yet)."""

    high = 3

    def __init__(self, _config):
        pass

    def list_topics(self, timeout):
        return SimpleNamespace(topics={"t.raw.PowerSystemRightNow": SimpleNamespace(partitions={0: None})})

    def assign(self, partitions):
        pass

    def consume(self, num_messages, timeout):
        time.sleep(timeout)
        return []

    def get_watermark_offsets(self, key, cached):
        return 0, HeldFetchConsumer.high

    def close(self):
        pass


def test_empty_polls_with_a_known_backlog_are_not_caught_up_and_an_empty_partition_is(monkeypatch):
    monkeypatch.setattr(feeder_module, "Consumer", HeldFetchConsumer)
    monkeypatch.setattr(feeder_module, "ensure_topics", lambda servers, topics: None)
    monkeypatch.setattr(feeder_module, "raw_topic", lambda dataset: f"t.raw.{dataset}")
    pushed = []
    feeder = CacheFeeder("127.0.0.1:1", "api-test", LatestCache(), pushed.extend, ["PowerSystemRightNow"])
    feeder.start()
    try:
        time.sleep(2.0)  # well past the old "quiet for a second" shortcut
        assert not feeder.caught_up.is_set() and feeder.state == "catching up"
        HeldFetchConsumer.high = 0  # the partition turns out empty: nothing to catch up on
        assert feeder.caught_up.wait(5.0) and feeder.state == "live"
    finally:
        feeder.stop()
        HeldFetchConsumer.high = 3
