"""The landing consumer: Kafka micro-batches -> DuckDB, at least once, idempotently.

Per batch: decode, validate, de-duplicate, upsert in one DuckDB transaction together with the
ingest log and quarantine rows, publish dead letters, and only then commit Kafka offsets. A
crash anywhere before the offset commit replays the batch, which the upserts make harmless.
Nothing in a message can stop the loop: what cannot be landed is dead-lettered with a reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import duckdb
import numpy as np
import orjson
import pandas as pd
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from energy_orchestration import settings
from energy_orchestration.model import RULES, utc_now
from energy_orchestration.sources import DATASETS, Dataset
from energy_orchestration.streaming.batch import (
    DatasetBatch,
    MessageLike,
    next_offsets,
    normalise_messages,
    source_id,
)
from energy_orchestration.streaming.config import consumer_config, producer_config, redacted
from energy_orchestration.streaming.health import HealthRecorder
from energy_orchestration.streaming.topics import dead_letter_topic, ensure_topics, raw_topic
from energy_orchestration.warehouse import Warehouse, WarehouseBusy, WarehouseConflict
from energy_orchestration.warehouse.connection import landing_claims
from energy_orchestration.warehouse.landing import IngestLogRow, LandingBatch, QuarantineRow, insert_quarantine, land

log = logging.getLogger(__name__)


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
    raw_messages: list[MessageLike] = field(default_factory=list)
    """The batch's messages, kept to isolate one whose write fails."""


@dataclass
class ConsumerStats:
    batches: int = 0
    messages: int = 0
    observations: int = 0
    quarantined: int = 0
    dead_lettered: int = 0
    lag: dict[str, int] = field(default_factory=dict)


def _payload_text(value: bytes | None) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", errors="replace")


def prepare_batch(messages: list[MessageLike], consumer_group: str, now: datetime | None = None,
                  lag: dict[str, int] | None = None) -> PreparedBatch:
    """Turn raw Kafka messages into what one transaction writes. Pure: no I/O.

    The messages are read by :func:`~energy_orchestration.streaming.batch.normalise_messages`,
    the same function the API's cache feeder uses; this adds what landing needs on top: rows,
    quarantine, dead letters and the ingest log. ``lag`` (``topic/partition`` -> messages behind)
    goes into each dataset's ingest-log row.
    """
    batch = normalise_messages(messages, now or utc_now())
    batch_id = uuid.uuid4().hex
    dead = [_dead_letter(r.message, "decode", r.rule, r.reason) for r in batch.refused]
    observation_frames: list[pd.DataFrame] = []
    raw_frames: list[pd.DataFrame] = []
    quarantine: list[QuarantineRow] = []
    ingest: list[IngestLogRow] = []
    for part in batch.datasets:
        if part.normalised is None:
            log.error("parser for %s failed on a batch of %d records", part.dataset, len(part.items),
                      exc_info=part.error)
            dead.extend(_dead_letter(m, "parse", "parser_error", f"{type(part.error).__name__}: {part.error}")
                        for m, _ in part.items)
            continue
        rows, letters = _rejection_rows(part, batch_id)
        quarantine.extend(rows + _unknown_field_rows(part))
        dead.extend(letters)
        frame, raw = _landed_frames(part)
        if not frame.empty:
            observation_frames.append(frame)
        if raw is not None:
            raw_frames.append(raw)
        ingest.append(_ingest_row(part, frame, batch_id, consumer_group, len(letters), lag or {}))

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
    return PreparedBatch(landing=landing, dead_letters=dead, next_offsets=batch.next_offsets,
                         messages=batch.messages, raw_messages=[m for m in messages if m.error() is None])


def _rejection_rows(part: DatasetBatch, batch_id: str) -> tuple[list[QuarantineRow], list[DeadLetter]]:
    """A quarantine row per rejection; a dead letter too for each record refused whole."""
    normalised = part.normalised
    assert normalised is not None
    rows: list[QuarantineRow] = []
    dead: list[DeadLetter] = []
    for rejection in normalised.rejections:
        message = part.items[rejection.record_index][0] if rejection.record_index is not None else None
        whole = rejection.record_index in normalised.rejected_records
        rows.append(QuarantineRow(
            source_id=source_id(message) if message is not None else f"batch:{batch_id}", rule=rejection.rule,
            stage="record" if whole else "value", reason=rejection.reason, dataset=part.dataset,
            record_key=rejection.record_key, zone=rejection.zone or None, quantity=rejection.quantity,
            payload=_payload_text(message.value()) if message is not None else None,
            interval_start_utc=(normalised.record_times[rejection.record_index]
                                if rejection.record_index is not None and normalised.record_times else None)))
        if whole and message is not None:
            dead.append(_dead_letter(message, "record", rejection.rule, rejection.reason))
    return rows, dead


def _unknown_field_rows(part: DatasetBatch) -> list[QuarantineRow]:
    """Schema drift: a quarantine row (stage ``schema``) per record carrying fields outside the contract."""
    assert part.normalised is not None
    keys = part.normalised.record_keys
    rows = []
    for index, fields in _unknown_fields([e.record for _, e in part.items], part.spec):
        message = part.items[index][0]
        rows.append(QuarantineRow(
            source_id=source_id(message), rule="unknown_field", stage="schema",
            reason=f"{RULES['unknown_field']}: {', '.join(fields)}", dataset=part.dataset,
            record_key=keys[index] if keys else "", payload=_payload_text(message.value())))
    return rows


def _landed_frames(part: DatasetBatch) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The observations (with fetch time and Kafka position) and the raw records that land."""
    normalised = part.normalised
    assert normalised is not None
    items = part.items
    offsets = np.array([int(m.offset() or 0) for m, _ in items], dtype=np.int64)
    partitions = np.array([int(m.partition() or 0) for m, _ in items], dtype=np.int32)
    fetched = np.array([e.fetched_at_utc for _, e in items], dtype="datetime64[us]")
    frame = normalised.observations
    if not frame.empty:
        index = frame["record_index"].to_numpy()
        frame = frame.drop(columns=["record_index"]).assign(
            fetched_at_utc=fetched[index], kafka_partition=partitions[index], kafka_offset=offsets[index])
    landed_positions = [i for i in range(len(items)) if i not in normalised.rejected_records]
    if not landed_positions:
        return frame, None
    raw = pd.DataFrame({
        "dataset": part.dataset,
        "record_key": [normalised.record_keys[i] for i in landed_positions],
        "interval_start_utc": pd.Series([normalised.record_times[i] for i in landed_positions],
                                        dtype="datetime64[us]"),
        "payload": [_payload_text(items[i][0].value()) for i in landed_positions],
        "fetched_at_utc": fetched[landed_positions],
        "kafka_partition": partitions[landed_positions],
        "kafka_offset": offsets[landed_positions],
    })
    return frame, raw


def _ingest_row(part: DatasetBatch, frame: pd.DataFrame, batch_id: str, consumer_group: str, dead_lettered: int,
                lag: dict[str, int]) -> IngestLogRow:
    """The dataset's ingest-log row: counts, interval span, offset ranges and its own topic's lag."""
    assert part.normalised is not None
    span = frame["interval_start_utc"] if not frame.empty else pd.Series(dtype="datetime64[us]")
    ranges = _offset_ranges(part.received)
    prefix = raw_topic(part.dataset) + "/"
    return IngestLogRow(
        batch_id=batch_id, dataset=part.dataset, consumer_group=consumer_group, messages=len(part.received),
        observations=len(frame), quarantined=len(part.normalised.rejections), dead_lettered=dead_lettered,
        min_interval_utc=span.min().to_pydatetime() if not span.empty else None,
        max_interval_utc=span.max().to_pydatetime() if not span.empty else None,
        offsets=json.dumps(ranges), lag=json.dumps({k: v for k, v in lag.items() if k.startswith(prefix)}))


def _offset_ranges(received: list[tuple[MessageLike, Any]]) -> dict[str, list[int]]:
    """``{"topic/partition": [first offset, last offset]}`` in order of first appearance.

    Vectorised per partition (a batch has a handful): a loop over 20,000 messages calling
    ``offset()`` three times each was ~10 % of preparing a batch."""
    positions = [(message.topic(), message.partition()) for message, _ in received]
    offsets = np.fromiter((int(message.offset() or 0) for message, _ in received), dtype=np.int64,
                          count=len(received))
    distinct = list(dict.fromkeys(positions))
    if len(distinct) == 1:
        return {f"{distinct[0][0]}/{distinct[0][1]}": [int(offsets.min()), int(offsets.max())]}
    index = {position: i for i, position in enumerate(distinct)}
    codes = np.array([index[position] for position in positions])
    return {f"{topic}/{partition}": [int(offsets[codes == i].min()), int(offsets[codes == i].max())]
            for i, (topic, partition) in enumerate(distinct)}


def _unknown_fields(records: list[Any], spec: Dataset) -> list[tuple[int, list[str]]]:
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


def _dead_letter(message: MessageLike, stage: str, rule: str, reason: str) -> DeadLetter:
    return DeadLetter(source_id=source_id(message), topic=str(message.topic()), partition=int(message.partition() or 0),
                      offset=int(message.offset() or 0), key=message.key(), value=message.value(),
                      stage=stage, rule=rule, reason=reason)


class WriterDied(RuntimeError):
    """The landing writer thread ended by an exception: nothing can land any more, so the
    process must exit (non-zero) and be restarted, not linger with its offsets frozen."""


class UnlandableBatch(RuntimeError):
    """Every message of a batch fails to land on its own: the cause is not the content."""


MAX_DEAD_LETTER_BYTES = 100_000
"""Dead letters above this are summarised: the broker (1 MB by default, less the headers) would
refuse the original, and a refused dead letter must never block landing. The full payload is
in the ``quarantine`` table already."""

WRITE_ATTEMPTS_BEFORE_ISOLATING = 3
"""A batch whose write fails this often for a reason that is not the environment is split
until the messages that make it fail are found (see :meth:`LandingConsumer._isolate`)."""

WRITER_DUCKDB_THREADS = 1
"""DuckDB threads of the landing writer's connection (see :attr:`Warehouse.writer_threads`)."""

GIL_SWITCH_INTERVAL_SECONDS = 0.0005
"""The interpreter's switch interval while the consumer runs (Python's default: 5 ms).

DuckDB's Python client takes the GIL between the tasks of a running query, to check for
Ctrl-C. While the main thread prepares the next batch (pure Python, holding the GIL), the writer
thread waits up to the switch interval at each of those points: in isolation, a 60,000-record
landing took 60-70 % longer next to a busy Python thread at 5 ms and about as long as alone at
0.5 ms (benchmarks/README.md, issue 11, eighth pass)."""

MAX_LOCK_WAIT_SECONDS = 10.0
"""The writer waits for the warehouse lock at most this long per attempt (and then retries,
keeping the batch), so SIGTERM always ends the process within about this long."""


def environmental(exc: BaseException) -> bool:
    """Failures of the machine or of other processes, not of the batch's content: retried as they
    are, never blamed on a message (splitting the batch would only quarantine good data)."""
    return isinstance(exc, (WarehouseBusy, WarehouseConflict, OSError, MemoryError, duckdb.IOException,
                            duckdb.OutOfMemoryException, duckdb.ConnectionException, duckdb.InterruptException,
                            duckdb.FatalException, duckdb.InternalException))


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def dead_letter_value(letter: DeadLetter) -> bytes | None:
    """The value to publish for a dead letter: the original when it fits, else a summary saying
    where the full payload is kept."""
    if letter.value is None or len(letter.value) <= MAX_DEAD_LETTER_BYTES:
        return letter.value
    return orjson.dumps({
        "truncated": True, "source": letter.source_id, "original_bytes": len(letter.value),
        "sha256": hashlib.sha256(letter.value).hexdigest(),
        "full_payload": "quarantine table, source_id = source",
        "head": letter.value[:2000].decode("utf-8", errors="replace")})


class LandingConsumer:
    """The long-running service behind ``energy consume``."""

    def __init__(self, bootstrap_servers: str, warehouse: Warehouse, group_id: str,
                 datasets: list[str] | None = None,
                 batch_max_messages: int = int(settings.default("ENERGY_CONSUMER_BATCH_MAX_MESSAGES")),
                 batch_max_seconds: float = float(settings.default("ENERGY_CONSUMER_BATCH_MAX_SECONDS")),
                 status_every_seconds: float = 30.0) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.warehouse = warehouse
        # the writer's own lock waits are short (and retried): a shutdown never waits out a long one;
        # one DuckDB thread, as the main thread needs the other core (Warehouse.writer_threads)
        self._write_warehouse = replace(warehouse, lock_timeout_seconds=min(warehouse.lock_timeout_seconds,
                                                                             MAX_LOCK_WAIT_SECONDS),
                                        writer_threads=WRITER_DUCKDB_THREADS)
        self.group_id = group_id
        self.datasets = datasets or sorted(DATASETS)
        self.batch_max_messages = batch_max_messages
        self.batch_max_seconds = batch_max_seconds
        self.status_every_seconds = status_every_seconds
        self.stats = ConsumerStats()
        self.health = HealthRecorder(warehouse.path, group_id)
        self._finished = 0  # batches the writer handed back (main thread only)
        self._gave_up = False  # a batch was not landed: nothing after it may be committed
        self._writer_error: BaseException | None = None
        self._dlq_topic = dead_letter_topic()

    def run(self, stop: threading.Event, idle_exit_seconds: float | None = None) -> ConsumerStats:
        """Consume until ``stop`` is set (batches already read are landed first).

        Two stages overlap: this thread reads and prepares batch N+1 (Python) while a writer
        thread lands batch N (DuckDB, which releases the GIL but takes it back between tasks: see
        :data:`GIL_SWITCH_INTERVAL_SECONDS`, set for the run's duration). Offsets are committed here, in
        order, and only up to the last batch that landed together with every batch before it:
        once a batch is given up (shutdown during its retries), the writer lands nothing more
        and nothing more is committed, because a later commit on a partition covers every
        earlier message of it.

        Raises :class:`WriterDied` if the writer thread dies: the caller must exit non-zero.
        ``idle_exit_seconds`` ends the loop after that long without messages (benchmarks, tests).
        """
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_SECONDS)
        try:
            return self._run(stop, idle_exit_seconds)
        finally:
            sys.setswitchinterval(switch_interval)

    def _run(self, stop: threading.Event, idle_exit_seconds: float | None) -> ConsumerStats:
        topics = [raw_topic(d) for d in self.datasets]
        ensure_topics(self.bootstrap_servers, topics + [self._dlq_topic])
        config = consumer_config(self.bootstrap_servers, self.group_id)
        log.debug("consumer settings: %s", redacted(config))
        consumer = Consumer(config)
        consumer.subscribe(topics)
        log.info("landing consumer %s reading %s into %s", self.group_id, ", ".join(topics), self.warehouse.location)
        self.health.finished("landing")
        to_write: queue.Queue[PreparedBatch | None] = queue.Queue(maxsize=1)
        written: queue.Queue[tuple[PreparedBatch, bool]] = queue.Queue()
        writer = threading.Thread(target=self._writer, args=(to_write, written, stop), name="duckdb-writer",
                                  daemon=True)
        writer.start()
        last_message = time.monotonic()
        last_status = time.monotonic()
        submitted = 0
        failure: BaseException | None = None
        try:
            while not stop.is_set() and not self._gave_up:
                self._check_writer(writer)
                messages = consumer.consume(num_messages=self.batch_max_messages, timeout=self.batch_max_seconds)
                for message in messages:
                    if message.error() is not None and not message.error().retriable():
                        log.warning("consumer error: %s", message.error())
                if any(m.error() is None for m in messages):
                    began = time.perf_counter()
                    lag = _lag(consumer, next_offsets(messages))
                    prepared = prepare_batch(messages, self.group_id, lag=lag)
                    log.debug("prepared %d messages in %.3fs", prepared.messages, time.perf_counter() - began)
                    self._hand_over(to_write, prepared, writer)
                    submitted += 1
                    last_message = time.monotonic()
                elif idle_exit_seconds is not None:
                    if not consumer.assignment() or submitted != self._finished:
                        last_message = time.monotonic()  # idle only counts once partitions are ours
                    elif time.monotonic() - last_message > idle_exit_seconds:
                        break
                self._commit_written(consumer, written)
                self.health.heartbeat()
                if time.monotonic() - last_status > self.status_every_seconds:
                    self._log_status()
                    last_status = time.monotonic()
        except BaseException as exc:
            failure = exc
            stop.set()  # the writer must not keep retrying a batch nobody will commit
            raise
        finally:
            if writer.is_alive():
                self._hand_over(to_write, None, writer)
                writer.join(MAX_LOCK_WAIT_SECONDS * 3)
            self._commit_written(consumer, written)
            consumer.close()
            self._log_status()
            if failure is not None or self._writer_error is not None:
                self.health.finished("failed", describe_error(failure or self._writer_error))  # type: ignore[arg-type]
            else:
                self.health.finished("stopped")
        if self._gave_up:
            log.warning("stopped with a batch not landed: offsets are committed only up to the batch before it, "
                        "so the next start replays it and everything after it")
        return self.stats

    def _check_writer(self, writer: threading.Thread) -> None:
        if not writer.is_alive():
            raise WriterDied(f"the landing writer thread died ({describe_error(self._writer_error)})"
                             if self._writer_error else "the landing writer thread ended unexpectedly")

    def _hand_over(self, to_write: "queue.Queue[PreparedBatch | None]", item: PreparedBatch | None,
                   writer: threading.Thread) -> None:
        """Queue a batch (or the end marker) for the writer without ever blocking on a dead one."""
        while True:
            try:
                to_write.put(item, timeout=0.5)
                return
            except queue.Full:
                if item is None and not writer.is_alive():
                    return
                if item is not None:
                    self._check_writer(writer)
                self.health.heartbeat()  # waiting on a slow writer is not silence

    def _writer(self, to_write: "queue.Queue[PreparedBatch | None]",
                written: "queue.Queue[tuple[PreparedBatch, bool]]", stop: threading.Event) -> None:
        try:
            given_up = False
            while True:
                prepared = to_write.get()
                if prepared is None:
                    return
                if given_up:  # never land past a batch that did not land: it would be committed over
                    written.put((prepared, False))
                    continue
                landed = self._write(prepared, stop)
                if not landed:
                    given_up = True
                    log.warning("shutting down before a batch of %d messages landed; it and every later batch "
                                "stay uncommitted and are replayed on the next start", prepared.messages)
                written.put((prepared, landed))
        except BaseException as exc:
            self._writer_error = exc
            log.critical("the landing writer thread died; the consumer exits", exc_info=True)
            self.health.finished("failed", describe_error(exc))

    def _write(self, prepared: PreparedBatch, stop: threading.Event) -> bool:
        """Land one batch and publish its dead letters; False if shutdown interrupted the retries.

        Failures caused by the environment (lock held, disk, another process) are retried with the
        whole batch. A failure that keeps coming back for anything else is blamed on the batch's
        content: the batch is split until the offending messages are found, and those are
        quarantined and dead-lettered with the real error, so one bad message never stalls landing.
        If every message fails on its own, the content is not to blame (a schema or engine
        problem): nothing is quarantined and the whole batch is retried, visibly stalled.
        """
        delay = 0.5
        failures = 0
        may_isolate = True
        dead_letters = prepared.dead_letters
        while True:
            try:
                began = time.perf_counter()
                if may_isolate and failures >= WRITE_ATTEMPTS_BEFORE_ISOLATING:
                    dead_letters = self._isolate(prepared)
                else:
                    self._land(prepared.landing, prepared.raw_messages)
                log.debug("landed %d messages in %.3fs", prepared.messages, time.perf_counter() - began)
                break
            except Exception as exc:
                if isinstance(exc, WarehouseBusy):  # someone holds the file long: wait, keep the batch
                    log.warning("%s; retrying the batch", exc)
                else:
                    if isinstance(exc, UnlandableBatch):
                        may_isolate = False
                    failures += 0 if environmental(exc) else 1
                    log.error("landing a batch of %d messages failed (%s); retrying (offsets not committed)%s",
                              prepared.messages, describe_error(exc),
                              "" if environmental(exc) else f", attempt {failures}", exc_info=True)
                self.health.failed(describe_error(exc))
            if stop.wait(delay):
                return False  # shutting down: the batch is replayed next start, offsets untouched
            delay = min(delay * 2, 10.0)
        if not self._publish_dead_letters(dead_letters, stop):
            return False
        prepared.dead_letters = dead_letters  # with any isolated by _isolate, for the stats
        self.health.landed()
        return True

    def _land(self, landing: LandingBatch, messages: list[MessageLike]) -> None:
        # DuckLake: landing claims each Kafka partition of the batch, so two consumers' upserts of
        # the same keys (only possible on a shared partition) never interleave (a conflict is
        # retried on the newer snapshot), while disjoint partitions land side by side; the file
        # backend's lock serialises every write anyway
        self._write_warehouse.write(lambda connection: land(connection, landing, utc_now().replace(tzinfo=None)),
                                    what="landing a batch", claim=_claims_of(messages))

    def _isolate(self, prepared: PreparedBatch) -> list[DeadLetter]:
        """Land the batch by halves; quarantine the single messages whose write fails, with the
        error as the reason. Returns every dead letter to publish."""
        letters, poison = self._land_halves(prepared.raw_messages)
        if poison and len(poison) == len(prepared.raw_messages) > 1:
            raise UnlandableBatch(f"each of the batch's {len(poison)} messages fails to land on its own "
                                  f"({describe_error(poison[0][1])}): not the messages' fault")
        rows, poison_letters = [], []
        for message, exc in poison:
            reason = f"landing this message fails: {describe_error(exc)}"
            log.error("isolated a message whose write fails, quarantined and dead-lettered: %s: %s",
                      source_id(message), reason)
            rows.append(QuarantineRow(source_id=source_id(message), rule="write_failed", stage="write",
                                      reason=reason, payload=_payload_text(message.value())))
            poison_letters.append(_dead_letter(message, "write", "write_failed", reason))
        if rows:
            self._write_warehouse.write(lambda connection: insert_quarantine(connection, rows,
                                                                             utc_now().replace(tzinfo=None)),
                                        what="quarantining unlandable messages",
                                        claim=_claims_of([message for message, _ in poison]))
        return letters + poison_letters

    def _land_halves(self, messages: list[MessageLike]) -> tuple[list[DeadLetter],
                                                                  list[tuple[MessageLike, Exception]]]:
        """Land ``messages``, splitting in halves on failure down to single messages. Returns the
        landed parts' dead letters and the single messages that failed (with their error).
        Environmental failures propagate: the caller retries the whole batch (already landed
        halves are upserted again harmlessly)."""
        prepared = prepare_batch(messages, self.group_id)
        try:
            self._land(prepared.landing, messages)
            return prepared.dead_letters, []
        except Exception as exc:
            if environmental(exc):
                raise
            if len(messages) == 1:
                return [], [(messages[0], exc)]
            middle = len(messages) // 2
            first_letters, first_poison = self._land_halves(messages[:middle])
            second_letters, second_poison = self._land_halves(messages[middle:])
            return first_letters + second_letters, first_poison + second_poison

    def _commit_written(self, consumer: Consumer, written: "queue.Queue[tuple[PreparedBatch, bool]]") -> None:
        while True:
            try:
                prepared, landed = written.get_nowait()
            except queue.Empty:
                return
            self._finished += 1
            if not landed:
                self._gave_up = True
            if self._gave_up:
                continue  # committing a later batch would commit past this one
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
                try:
                    producer.produce(self._dlq_topic, key=(letter.key or b"")[:1000] or None,
                                     value=dead_letter_value(letter), headers={
                                         "source": letter.source_id, "stage": letter.stage, "rule": letter.rule,
                                         "reason": letter.reason[:1000]},
                                     on_delivery=lambda err, _msg: failed.append(err.str()) if err else None)  # noqa: B023 (flushed in this iteration)
                except (KafkaException, BufferError) as exc:  # refused locally: retried below, never fatal
                    failed.append(describe_error(exc))
                    producer.poll(0.5)
            remaining = producer.flush(30)
            if not remaining and not failed:
                return True
            error = f"dead-letter publish failed ({failed[:1] or f'{remaining} undelivered'})"
            log.error("%s; retrying", error)
            self.health.failed(error)
            if stop.wait(2.0):
                return False  # offsets stay uncommitted: the batch is replayed on restart

    def _log_status(self) -> None:
        s = self.stats
        stalled = f"; STALLED since {self.health.stalled_since} UTC" if self.health.stalled_since else ""
        log.info("landed %d messages in %d batches (%d observations); quarantined %d; dead-lettered %d; lag %s%s",
                 s.messages, s.batches, s.observations, s.quarantined, s.dead_lettered, sum(s.lag.values()), stalled)


def _claims_of(messages: list[MessageLike]) -> tuple[str, ...]:
    """The warehouse claims of a write carrying these messages: one per Kafka partition."""
    return landing_claims((message.topic(), message.partition()) for message in messages)


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
