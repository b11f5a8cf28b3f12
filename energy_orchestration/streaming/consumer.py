"""The landing consumer: Kafka micro-batches -> DuckDB, at least once, idempotently.

Per batch: decode, validate, de-duplicate, upsert in one DuckDB transaction together with the
ingest log and quarantine rows, publish dead letters, and only then commit Kafka offsets. A
crash anywhere before the offset commit replays the batch, which the upserts make harmless.
Nothing in a message can stop the loop: what cannot be landed is dead-lettered with a reason.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from energy_orchestration.model import RULES, apply_record_rules, utc_now
from energy_orchestration.sources import DATASETS
from energy_orchestration.streaming.config import consumer_config, producer_config, redacted
from energy_orchestration.streaming.envelope import DecodeError, Envelope, decode
from energy_orchestration.streaming.topics import dead_letter_topic, ensure_topics, raw_topic
from energy_orchestration.warehouse import Warehouse, WarehouseBusy
from energy_orchestration.warehouse.landing import IngestLogRow, LandingBatch, QuarantineRow, land

log = logging.getLogger(__name__)


class MessageLike(Protocol):
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def error(self) -> Any: ...


@dataclass(frozen=True)
class DeadLetter:
    source_id: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    stage: str
    rule: str
    reason: str


@dataclass
class PreparedBatch:
    landing: LandingBatch
    dead_letters: list[DeadLetter]
    next_offsets: dict[tuple[str, int], int]
    messages: int


@dataclass
class ConsumerStats:
    batches: int = 0
    messages: int = 0
    observations: int = 0
    quarantined: int = 0
    dead_lettered: int = 0
    lag: dict[str, int] = field(default_factory=dict)


def _source_id(message: MessageLike) -> str:
    return f"{message.topic()}/{message.partition()}/{message.offset()}"


def _payload_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace")


def prepare_batch(messages: list[MessageLike], consumer_group: str, now: datetime | None = None) -> PreparedBatch:
    """Turn raw Kafka messages into what one transaction writes. Pure: no I/O."""
    now = now or utc_now()
    batch_id = uuid.uuid4().hex
    dead: list[DeadLetter] = []
    next_offsets: dict[tuple[str, int], int] = {}
    by_dataset: dict[str, list[tuple[MessageLike, Envelope]]] = defaultdict(list)
    known = set(DATASETS)
    counted = 0
    for message in messages:
        if message.error() is not None:
            continue
        counted += 1
        position = (str(message.topic()), int(message.partition() or 0))
        next_offsets[position] = max(next_offsets.get(position, 0), int(message.offset() or 0) + 1)
        try:
            envelope = decode(message.value(), known)
        except DecodeError as exc:
            dead.append(_dead_letter(message, "decode", "undecodable", str(exc)))
            continue
        by_dataset[envelope.dataset].append((message, envelope))

    observation_frames: list[pd.DataFrame] = []
    raw_frames: list[pd.DataFrame] = []
    quarantine: list[QuarantineRow] = []
    ingest: list[IngestLogRow] = []
    for dataset, received in by_dataset.items():
        spec = DATASETS[dataset]
        items = _newest_per_record(received, spec)
        records = [envelope.record for _, envelope in items]
        try:
            normalised = apply_record_rules(spec.normalise(records, now), dataset)
        except Exception as exc:  # a parser bug must not stop landing of other datasets
            log.exception("parser for %s failed on a batch of %d records", dataset, len(items))
            dead.extend(_dead_letter(m, "parse", "parser_error", f"{type(exc).__name__}: {exc}") for m, _ in items)
            continue
        dataset_dead = 0
        for rejection in normalised.rejections:
            message = items[rejection.record_index][0] if rejection.record_index is not None else None
            source_id = _source_id(message) if message is not None else f"batch:{batch_id}"
            whole = rejection.record_index in normalised.rejected_records
            quarantine.append(QuarantineRow(
                source_id=source_id, rule=rejection.rule, stage="record" if whole else "value",
                reason=rejection.reason, dataset=dataset, record_key=rejection.record_key,
                zone=rejection.zone or None, quantity=rejection.quantity,
                payload=_payload_text(message.value()) if message is not None else None,
                interval_start_utc=(normalised.record_times[rejection.record_index]
                                    if rejection.record_index is not None and normalised.record_times else None)))
            if whole and message is not None:
                dead.append(_dead_letter(message, "record", rejection.rule, rejection.reason, quarantined=True))
                dataset_dead += 1

        for index, fields in _unknown_fields(records, spec):
            message = items[index][0]
            quarantine.append(QuarantineRow(
                source_id=_source_id(message), rule="unknown_field", stage="schema",
                reason=f"{RULES['unknown_field']}: {', '.join(fields)}", dataset=dataset,
                record_key=normalised.record_keys[index] if normalised.record_keys else "",
                payload=_payload_text(message.value())))
        offsets = np.array([int(m.offset() or 0) for m, _ in items], dtype=np.int64)
        partitions = np.array([int(m.partition() or 0) for m, _ in items], dtype=np.int32)
        fetched = np.array([e.fetched_at_utc for _, e in items], dtype="datetime64[us]")
        frame = normalised.observations
        if not frame.empty:
            index = frame["record_index"].to_numpy()
            frame = frame.drop(columns=["record_index"]).assign(
                fetched_at_utc=fetched[index], kafka_partition=partitions[index], kafka_offset=offsets[index])
            observation_frames.append(frame)
        landed_positions = [i for i in range(len(items)) if i not in normalised.rejected_records]
        if landed_positions:
            raw_frames.append(pd.DataFrame({
                "dataset": dataset,
                "record_key": [normalised.record_keys[i] for i in landed_positions],
                "interval_start_utc": pd.Series([normalised.record_times[i] for i in landed_positions],
                                                dtype="datetime64[us]"),
                "payload": [_payload_text(items[i][0].value()) for i in landed_positions],
                "fetched_at_utc": fetched[landed_positions],
                "kafka_partition": partitions[landed_positions],
                "kafka_offset": offsets[landed_positions],
            }))
        span = frame["interval_start_utc"] if not frame.empty else pd.Series(dtype="datetime64[us]")
        ranges: dict[str, list[int]] = {}
        for message, _ in received:
            key = f"{message.topic()}/{message.partition()}"
            first_last = ranges.setdefault(key, [int(message.offset() or 0)] * 2)
            first_last[0] = min(first_last[0], int(message.offset() or 0))
            first_last[1] = max(first_last[1], int(message.offset() or 0))
        ingest.append(IngestLogRow(
            batch_id=batch_id, dataset=dataset, consumer_group=consumer_group, messages=len(received),
            observations=len(frame), quarantined=len(normalised.rejections), dead_lettered=dataset_dead,
            min_interval_utc=span.min().to_pydatetime() if not span.empty else None,
            max_interval_utc=span.max().to_pydatetime() if not span.empty else None,
            offsets=json.dumps(ranges), lag="{}"))

    undecodable = [d for d in dead if d.stage in ("decode", "parse")]
    for letter in undecodable:
        quarantine.append(QuarantineRow(source_id=letter.source_id, rule=letter.rule, stage=letter.stage,
                                        reason=letter.reason, payload=_payload_text(letter.value)))
    if undecodable:
        ingest.append(IngestLogRow(
            batch_id=batch_id, dataset="(undecodable)", consumer_group=consumer_group, messages=len(undecodable),
            observations=0, quarantined=len(undecodable), dead_lettered=len(undecodable),
            min_interval_utc=None, max_interval_utc=None, offsets="{}", lag="{}"))
    landing = LandingBatch(
        observations=pd.concat(observation_frames, ignore_index=True) if observation_frames else pd.DataFrame(),
        raw_records=pd.concat(raw_frames, ignore_index=True) if raw_frames else pd.DataFrame(),
        quarantine=quarantine, ingest_log=ingest)
    return PreparedBatch(landing=landing, dead_letters=dead, next_offsets=next_offsets, messages=counted)


def _unknown_fields(records: list[Any], spec: Any) -> list[tuple[int, list[str]]]:
    """Records carrying fields outside the dataset's contract. Records of one provider share a
    key set, so each distinct set is judged once."""
    verdicts: dict[tuple[str, ...], list[str]] = {}
    found = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        keys = tuple(record)
        if keys not in verdicts:
            verdicts[keys] = [k for k in keys if not spec.known_field(k)]
        if verdicts[keys]:
            found.append((index, verdicts[keys]))
    return found


def _newest_per_record(items: list[tuple[MessageLike, Envelope]], spec: Any) -> list[tuple[MessageLike, Envelope]]:
    """One message per provider record: the latest fetch wins (overlapping windows re-send rows).

    Doing this per record, before melting, keeps the observations unique on their natural key
    without a sort over hundreds of thousands of rows in SQL.
    """
    chosen: dict[str, int] = {}
    order = lambda i: (items[i][1].fetched_at_utc, items[i][0].partition() or 0, items[i][0].offset() or 0)  # noqa: E731
    for index, (_, envelope) in enumerate(items):
        key = spec.record_key(envelope.record) if isinstance(envelope.record, dict) else f"#{index}"
        previous = chosen.get(key)
        if previous is None or order(index) > order(previous):
            chosen[key] = index
    if len(chosen) == len(items):
        return items
    return [items[i] for i in sorted(chosen.values())]


def _dead_letter(message: MessageLike, stage: str, rule: str, reason: str, quarantined: bool = False) -> DeadLetter:
    return DeadLetter(source_id=_source_id(message), topic=str(message.topic()), partition=int(message.partition() or 0),
                      offset=int(message.offset() or 0), key=message.key(), value=message.value(),
                      stage=stage, rule=rule, reason=reason)


class LandingConsumer:
    """The long-running service behind ``energy consume``."""

    def __init__(self, bootstrap_servers: str, warehouse: Warehouse, group_id: str,
                 datasets: list[str] | None = None, batch_max_messages: int = 20_000,
                 batch_max_seconds: float = 1.0, status_every_seconds: float = 30.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.warehouse = warehouse
        self.group_id = group_id
        self.datasets = datasets or sorted(DATASETS)
        self.batch_max_messages = batch_max_messages
        self.batch_max_seconds = batch_max_seconds
        self.status_every_seconds = status_every_seconds
        self.stats = ConsumerStats()
        self._finished = 0  # batches the writer handed back (main thread only)
        self._dlq_topic = dead_letter_topic()

    def run(self, stop: threading.Event, idle_exit_seconds: float | None = None) -> ConsumerStats:
        """Consume until ``stop`` is set (batches already read are landed first).

        Two stages overlap: this thread reads and prepares batch N+1 (Python) while a writer
        thread lands batch N (DuckDB, which releases the GIL). Offsets are committed here, in
        order, and only for batches the writer reports landed.

        ``idle_exit_seconds`` ends the loop after that long without messages (benchmarks, tests).
        """
        topics = [raw_topic(d) for d in self.datasets]
        ensure_topics(self.bootstrap_servers, topics + [self._dlq_topic])
        config = consumer_config(self.bootstrap_servers, self.group_id)
        log.debug("consumer settings: %s", redacted(config))
        consumer = Consumer(config)
        consumer.subscribe(topics)
        log.info("landing consumer %s reading %s into %s", self.group_id, ", ".join(topics), self.warehouse.path)
        to_write: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=1)
        written: queue.Queue[tuple[PreparedBatch, bool]] = queue.Queue()
        writer = threading.Thread(target=self._writer, args=(to_write, written, stop), name="duckdb-writer",
                                  daemon=True)
        writer.start()
        last_message = time.monotonic()
        last_status = time.monotonic()
        submitted = 0
        try:
            while not stop.is_set():
                messages = consumer.consume(num_messages=self.batch_max_messages, timeout=self.batch_max_seconds)
                for message in messages:
                    if message.error() is not None and not message.error().retriable():
                        log.warning("consumer error: %s", message.error())
                if any(m.error() is None for m in messages):
                    began = time.perf_counter()
                    prepared = prepare_batch(messages, self.group_id)
                    log.debug("prepared %d messages in %.3fs", prepared.messages, time.perf_counter() - began)
                    lag = _lag(consumer, prepared.next_offsets)
                    for row in prepared.landing.ingest_log:  # each dataset's row: its own topic's lag
                        prefix = raw_topic(row.dataset) + "/" if row.dataset in DATASETS else ""
                        row.lag = json.dumps({k: v for k, v in lag.items() if prefix and k.startswith(prefix)})
                    to_write.put(prepared)
                    submitted += 1
                    last_message = time.monotonic()
                elif idle_exit_seconds is not None:
                    if not consumer.assignment() or submitted != self._finished:
                        last_message = time.monotonic()  # idle only counts once partitions are ours
                    elif time.monotonic() - last_message > idle_exit_seconds:
                        break
                self._commit_written(consumer, written)
                if time.monotonic() - last_status > self.status_every_seconds:
                    self._log_status()
                    last_status = time.monotonic()
        finally:
            to_write.put(None)
            writer.join()
            self._commit_written(consumer, written)
            consumer.close()
            self._log_status()
        return self.stats

    def _writer(self, to_write: "queue.Queue[PreparedBatch | None]",
                written: "queue.Queue[tuple[PreparedBatch, bool]]", stop: threading.Event) -> None:
        while True:
            prepared = to_write.get()
            if prepared is None:
                return
            written.put((prepared, self._write(prepared, stop)))

    def _write(self, prepared: PreparedBatch, stop: threading.Event) -> bool:
        """Land one batch and publish its dead letters; False if shutdown interrupted the retries."""
        delay = 0.5
        while True:
            try:
                began = time.perf_counter()
                with self.warehouse.transaction() as connection:
                    land(connection, prepared.landing, utc_now().replace(tzinfo=None))
                log.debug("landed %d messages in %.3fs", prepared.messages, time.perf_counter() - began)
                break
            except WarehouseBusy as exc:  # someone holds the file long: wait, keep the batch
                log.warning("%s; retrying the batch", exc)
            except Exception:
                log.exception("landing a batch of %d messages failed; retrying (offsets not committed)",
                              prepared.messages)
            if stop.wait(delay):
                return False  # shutting down: the batch is replayed next start, offsets untouched
            delay = min(delay * 2, 10.0)
        return self._publish_dead_letters(prepared.dead_letters, stop)

    def _commit_written(self, consumer: Consumer, written: "queue.Queue[tuple[PreparedBatch, bool]]") -> None:
        while True:
            try:
                prepared, landed = written.get_nowait()
            except queue.Empty:
                return
            self._finished += 1
            if not landed:
                continue
            offsets = [TopicPartition(topic, partition, offset)
                       for (topic, partition), offset in prepared.next_offsets.items()]
            try:
                consumer.commit(offsets=offsets, asynchronous=False)
            except KafkaException as exc:  # e.g. partitions revoked mid-batch: the new owner replays, harmlessly
                log.warning("offset commit failed (%s); the batch will be replayed idempotently", exc)
            self.stats.batches += 1
            self.stats.messages += prepared.messages
            self.stats.observations += len(prepared.landing.observations)
            self.stats.quarantined += len(prepared.landing.quarantine)
            self.stats.dead_lettered += len(prepared.dead_letters)
            self.stats.lag = {k: v for row in prepared.landing.ingest_log for k, v in json.loads(row.lag).items()}

    def _publish_dead_letters(self, letters: list[DeadLetter], stop: threading.Event) -> bool:
        if not letters:
            return True
        for letter in letters:
            log.warning("dead-lettered %s (%s/%s): %s", letter.source_id, letter.stage, letter.rule, letter.reason)
        while True:
            producer = Producer(producer_config(self.bootstrap_servers))
            failed: list[str] = []
            for letter in letters:
                producer.produce(self._dlq_topic, key=letter.key, value=letter.value, headers={
                    "source": letter.source_id, "stage": letter.stage, "rule": letter.rule,
                    "reason": letter.reason[:1000]},
                    on_delivery=lambda err, _msg: failed.append(err.str()) if err else None)
            remaining = producer.flush(30)
            if not remaining and not failed:
                return True
            log.error("dead-letter publish failed (%s); retrying", failed[:1] or f"{remaining} undelivered")
            if stop.wait(2.0):
                return False  # offsets stay uncommitted: the batch is replayed on restart

    def _log_status(self) -> None:
        s = self.stats
        log.info("landed %d messages in %d batches (%d observations); quarantined %d; dead-lettered %d; lag %s",
                 s.messages, s.batches, s.observations, s.quarantined, s.dead_lettered, sum(s.lag.values()))


def _lag(consumer: Consumer, next_offsets: dict[tuple[str, int], int]) -> dict[str, int]:
    """Lag from the high watermarks the last fetch reported (not ``list_offsets(latest)``,
    which the embedded broker answers wrongly)."""
    lag: dict[str, int] = {}
    for (topic, partition), next_offset in next_offsets.items():
        try:
            _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        except KafkaException:
            continue
        if high >= 0:
            lag[f"{topic}/{partition}"] = max(0, high - next_offset)
    return lag
