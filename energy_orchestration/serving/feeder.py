"""Feeds the latest-values cache straight from the raw Kafka topics, in a background thread.

Each API process reads *every* partition itself (``assign``, not a group subscription): a
cache split across replicas by a rebalance would be missing zones. Its consumer group
(``ENERGY_API_CONSUMER_GROUP``) only names it to the broker; it commits no offsets.

Where it starts (decided in :mod:`energy_orchestration.streaming.config`): against a real
cluster, at the newest messages — the cache is seeded from the warehouse at start-up, so the
topics' whole retention is not replayed. On the embedded broker, which answers
``ListOffsets(latest)`` wrongly (probed: high watermark 1 for a partition holding 5 messages),
it reads from the earliest retained offset instead and only *pushes* once it has caught up
with the high watermarks its fetches report; until then it fills the cache (which keeps the
newest interval, so the order of the replay does not matter).

Healing: when every broker is down the feeder says so (``state`` "reconnecting", not caught
up), closes its client and reconnects with a bounded back-off, logging a few lines, not one
per retry. It resumes where it was on a cluster; on the embedded broker (memory only: a
restart empties the topics) it re-reads from the start, and it does the same when a
partition's high watermark falls below its read position (topics recreated under it).

Messages are read by the landing consumer's own function
(:func:`~energy_orchestration.streaming.batch.normalise_messages`), so the cache shows the rows the
warehouse lands. Bad messages (undecodable, on another dataset's topic, parser errors) are counted
and logged, never fatal: the landing consumer owns dead-lettering them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, KafkaException, TopicPartition

from energy_orchestration.model import utc_now
from energy_orchestration.serving.cache import LatestCache, Reading, readings_from_frame
from energy_orchestration.sources import DATASETS
from energy_orchestration.streaming.batch import MessageLike, normalise_messages, source_id
from energy_orchestration.streaming.config import feeder_config, feeder_replays_topics
from energy_orchestration.streaming.topics import ensure_topics, raw_topic

log = logging.getLogger(__name__)


@dataclass
class FeederStats:
    messages: int = 0
    readings: int = 0
    bad_messages: int = 0
    parse_errors: int = 0


def readings_from_messages(messages: list[MessageLike], stats: FeederStats) -> list[Reading]:
    """Decode and normalise raw messages with the landing consumer's own function
    (:func:`~energy_orchestration.streaming.batch.normalise_messages`), so the cache shows what
    the warehouse lands. Pure apart from counting and logging what it had to skip."""
    batch = normalise_messages(messages, utc_now())
    stats.messages += batch.messages
    for refused in batch.refused:
        stats.bad_messages += 1
        _log_bad(stats, f"{source_id(refused.message)}: {refused.reason}")
    readings: list[Reading] = []
    for part in batch.datasets:
        if part.normalised is None:  # a parser bug must not stop the cache
            stats.parse_errors += 1
            log.error("cache feeder: parser for %s failed on %d records; skipped", part.dataset, len(part.items),
                      exc_info=part.error)
            continue
        readings.extend(readings_from_frame(part.normalised.observations))
    stats.readings += len(readings)
    return readings


def _log_bad(stats: FeederStats, text: str) -> None:
    # The first few in full, then one line per hundred: a poisoned topic must not flood the log.
    if stats.bad_messages <= 5 or stats.bad_messages % 100 == 0:
        log.warning("cache feeder skipped undecodable message %s (%d so far)", text, stats.bad_messages)


class _Reconnect(Exception):
    """Leave the current client and start over (broker gone, topics recreated)."""


class CacheFeeder:
    """Kafka -> :class:`LatestCache` -> ``on_messages`` (the push hub), in one daemon thread."""

    def __init__(self, bootstrap_servers: str, group_id: str, cache: LatestCache,
                 on_messages: Callable[[list[dict[str, Any]]], None], datasets: list[str] | None = None) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.group_id = group_id
        self.cache = cache
        self.on_messages = on_messages
        self.datasets = datasets or sorted(DATASETS)
        self.topic_of = {d: raw_topic(d) for d in self.datasets}
        self.stats = FeederStats()
        self.caught_up = threading.Event()
        self.state = "starting"
        """starting | catching up | live | reconnecting (reported by /health)."""
        self.last_error: str | None = None
        self.reconnects = 0
        self.replay = feeder_replays_topics(bootstrap_servers)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: dict[TopicPartition, int] = {}
        self._warned: set[TopicPartition] = set()

    def health(self) -> dict[str, Any]:
        return {"cache_caught_up": self.caught_up.is_set(), "cache_state": self.state,
                "cache_last_error": self.last_error, "cache_reconnects": self.reconnects}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cache-feeder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._consume()
                failures = 0
            except _Reconnect as exc:
                self._lost(str(exc))
                failures += 1
                if failures <= 3 or failures % 20 == 0:
                    log.warning("cache feeder: %s; reconnecting (attempt %d)", exc, failures)
            except Exception as exc:  # broker gone, metadata errors: retry, the API keeps serving the cache
                self._lost(f"{type(exc).__name__}: {exc}")
                failures += 1
                if failures == 1:
                    log.exception("cache feeder failed; reconnecting")
                elif failures <= 3 or failures % 20 == 0:
                    log.warning("cache feeder: %s; reconnecting (attempt %d)", self.last_error, failures)
            if failures:
                self._stop.wait(min(1.0 * failures, 5.0))  # a restarted broker is picked up within seconds

    def _lost(self, reason: str) -> None:
        self.caught_up.clear()
        self.state = "reconnecting"
        self.last_error = reason
        self.reconnects += 1

    def _start_offset(self, tp: TopicPartition) -> int:
        """Embedded broker: from the start (it may have lost everything). Cluster: where this
        feeder was, else the end."""
        if self.replay:
            return OFFSET_BEGINNING
        return self._next.get(tp, OFFSET_END)

    def _consume(self) -> None:
        topics = list(self.topic_of.values())
        ensure_topics(self.bootstrap_servers, topics)
        brokers_down = threading.Event()

        def on_error(error: KafkaError) -> None:  # librdkafka reports a lost cluster here, not in consume()
            if error.code() == KafkaError._ALL_BROKERS_DOWN:
                brokers_down.set()

        consumer = Consumer({**feeder_config(self.bootstrap_servers, self.group_id), "error_cb": on_error})
        try:
            metadata = consumer.list_topics(timeout=15)
            keys = [TopicPartition(t, p) for t in topics for p in sorted(metadata.topics[t].partitions)]
            partitions = [TopicPartition(k.topic, k.partition, self._start_offset(k)) for k in keys]
            if self.replay:
                self._next.clear()
            consumer.assign(partitions)
            self.state = "catching up"
            log.info("cache feeder (group %s) reading %d partitions of %s from the %s", self.group_id,
                     len(partitions), ", ".join(topics),
                     "start (embedded broker)" if self.replay else "newest messages")
            last_check = time.monotonic()
            while not self._stop.is_set():
                batch = consumer.consume(num_messages=2000, timeout=0.2)
                if brokers_down.is_set():
                    raise _Reconnect(f"all brokers of {self.bootstrap_servers} are down")
                for message in batch:
                    if message.error() is None:
                        self._next[TopicPartition(message.topic(), message.partition())] = message.offset() + 1
                readings = readings_from_messages(batch, self.stats)
                messages = self.cache.apply(self.topic_of, readings) if readings else []
                if self.caught_up.is_set():
                    if messages:
                        self.on_messages(messages)
                elif self._at_high_watermarks(consumer, keys):
                    log.info("cache feeder caught up: %d messages read, %d values cached", self.stats.messages,
                             len(self.cache))
                    self.state, self.last_error = "live", None
                    self.caught_up.set()
                if time.monotonic() - last_check > 2.0:
                    last_check = time.monotonic()
                    self._check_not_rewound(consumer, keys)
        finally:
            consumer.close()

    def _check_not_rewound(self, consumer: Consumer, keys: list[TopicPartition]) -> None:
        """A high watermark below our read position: the topic was recreated (embedded broker
        restarted) and our positions point past its end, where nothing would ever arrive."""
        for key in keys:
            try:
                _low, high = consumer.get_watermark_offsets(key, cached=True)
            except KafkaException:
                continue
            position = self._next.get(key)
            if high >= 0 and position is not None and high < position:
                if self.replay:
                    self._next.clear()
                    raise _Reconnect(f"{key.topic}/{key.partition} now ends at {high}, before offset {position} "
                                     "already read: the broker lost its topics; re-reading from the start")
                if key not in self._warned:  # once per partition: a cluster never goes back, so say it once
                    self._warned.add(key)
                    log.warning("cache feeder: %s/%d ends at %d, before offset %d already read", key.topic,
                                key.partition, high, position)
    def _at_high_watermarks(self, consumer: Consumer, partitions: list[TopicPartition]) -> bool:
        """Caught up = every partition's high watermark, as its last fetch reported it, is reached.

        Deliberately no "quiet for a second" shortcut: an empty poll also happens while the broker
        holds a fetch (its fetch wait exceeds the poll's timeout), and declaring "caught up" then
        pushed the rest of the replay to every client as if it were new (seen with a 1,000 ms
        fetch wait). A partition no fetch has answered yet reports no watermark and keeps the
        feeder "catching up"; an empty partition reports 0 and counts as reached."""
        for tp in partitions:
            key = TopicPartition(tp.topic, tp.partition)
            try:
                low, high = consumer.get_watermark_offsets(key, cached=True)
            except KafkaException:
                return False
            if high < 0 or self._next.get(key, max(low, 0)) < high:
                return False
        return True
