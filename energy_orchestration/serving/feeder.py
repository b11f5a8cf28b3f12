"""Feeds the latest-values cache straight from the raw Kafka topics, in a background thread.

Each API process reads *every* partition itself (``assign``, not a group subscription): a
cache split across replicas by a rebalance would be missing zones. Its consumer group
(``ENERGY_API_CONSUMER_GROUP``) only names it to the broker; it commits no offsets.

Where it starts: the embedded broker answers ``ListOffsets(latest)`` wrongly (probed: high
watermark 1 for a partition holding 5 messages), so "start at the end" cannot be asked for.
The feeder reads from the earliest retained offset instead and only *pushes* once it has
caught up with the high watermarks its fetches report; until then it fills the cache (which
keeps the newest interval, so the order of the replay does not matter). The warehouse seed
covers what the topics no longer hold.

Bad messages (undecodable, parser errors) are counted and logged, never fatal: the landing
consumer owns dead-lettering them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from energy_orchestration.model import apply_record_rules, utc_now
from energy_orchestration.serving.cache import LatestCache, Reading, readings_from_frame
from energy_orchestration.sources import DATASETS
from energy_orchestration.streaming.config import consumer_config
from energy_orchestration.streaming.consumer import MessageLike
from energy_orchestration.streaming.envelope import DecodeError, decode
from energy_orchestration.streaming.topics import ensure_topics, raw_topic

log = logging.getLogger(__name__)


@dataclass
class FeederStats:
    messages: int = 0
    readings: int = 0
    bad_messages: int = 0
    parse_errors: int = 0


def readings_from_messages(messages: list[MessageLike], stats: FeederStats) -> list[Reading]:
    """Decode and normalise raw messages exactly as the landing consumer does. Pure apart
    from counting and logging what it had to skip."""
    by_dataset: dict[str, list[Any]] = defaultdict(list)
    known = set(DATASETS)
    for message in messages:
        if message.error() is not None:
            continue
        stats.messages += 1
        try:
            envelope = decode(message.value(), known)
        except DecodeError as exc:
            stats.bad_messages += 1
            _log_bad(stats, f"{message.topic()}/{message.partition()}/{message.offset()}: {exc}")
            continue
        by_dataset[envelope.dataset].append(envelope.record)
    readings: list[Reading] = []
    now = utc_now()
    for dataset, records in by_dataset.items():
        try:
            batch = apply_record_rules(DATASETS[dataset].normalise(records, now), dataset)
        except Exception:  # a parser bug must not stop the cache
            stats.parse_errors += 1
            log.exception("cache feeder: parser for %s failed on %d records; skipped", dataset, len(records))
            continue
        readings.extend(readings_from_frame(batch.observations))
    stats.readings += len(readings)
    return readings


def _log_bad(stats: FeederStats, text: str) -> None:
    # The first few in full, then one line per hundred: a poisoned topic must not flood the log.
    if stats.bad_messages <= 5 or stats.bad_messages % 100 == 0:
        log.warning("cache feeder skipped undecodable message %s (%d so far)", text, stats.bad_messages)


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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: dict[TopicPartition, int] = {}

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cache-feeder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._consume()
            except Exception:  # broker gone, metadata errors: retry, the API keeps serving the cache
                log.exception("cache feeder failed; reconnecting in 2 s")
                self._stop.wait(2.0)

    def _consume(self) -> None:
        topics = list(self.topic_of.values())
        ensure_topics(self.bootstrap_servers, topics)
        # 100 ms, not the landing consumer's 500: the embedded broker holds a fetch for about that
        # long, and it is most of the push latency (benchmarks/README.md); idle CPU cost is small.
        config = {**consumer_config(self.bootstrap_servers, self.group_id), "fetch.wait.max.ms": 100}
        consumer = Consumer(config)
        try:
            metadata = consumer.list_topics(timeout=15)
            partitions = [TopicPartition(t, p, OFFSET_BEGINNING)
                          for t in topics for p in sorted(metadata.topics[t].partitions)]
            consumer.assign(partitions)
            log.info("cache feeder (group %s) reading %d partitions of %s", self.group_id, len(partitions),
                     ", ".join(topics))
            started = time.monotonic()
            while not self._stop.is_set():
                batch = consumer.consume(num_messages=2000, timeout=0.2)
                for message in batch:
                    if message.error() is None:
                        self._next[TopicPartition(message.topic(), message.partition())] = message.offset() + 1
                readings = readings_from_messages(batch, self.stats)
                messages = self.cache.apply(self.topic_of, readings) if readings else []
                if self.caught_up.is_set():
                    if messages:
                        self.on_messages(messages)
                elif self._at_high_watermarks(consumer, partitions) or (not batch and time.monotonic() - started > 1.0):
                    log.info("cache feeder caught up: %d messages read, %d values cached", self.stats.messages,
                             len(self.cache))
                    self.caught_up.set()
        finally:
            consumer.close()

    def _at_high_watermarks(self, consumer: Consumer, partitions: list[TopicPartition]) -> bool:
        for tp in partitions:
            key = TopicPartition(tp.topic, tp.partition)
            try:
                low, high = consumer.get_watermark_offsets(key, cached=True)
            except KafkaException:
                return False
            if high < 0 or self._next.get(key, max(low, 0)) < high:
                return False
        return True
