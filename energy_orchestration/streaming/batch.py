"""Kafka messages -> normalised batches: the one path both the landing consumer and the API's
cache feeder take, so the warehouse and the live cache never disagree on what a message means.

Steps: decode each envelope (refusing what cannot be read, or arrived on another dataset's
topic), group by dataset, keep the newest message per provider record (overlapping fetches
re-send rows), then run the dataset's parser and the cross-record rules. What the callers do
with refusals differs (the consumer dead-letters and quarantines them, the feeder counts them),
so refusals are returned, not acted on. Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from energy_orchestration.model import NormalisedBatch, apply_record_rules
from energy_orchestration.sources import DATASETS, Dataset
from energy_orchestration.streaming.envelope import DecodeError, Envelope, decode
from energy_orchestration.streaming.topics import raw_topic


class MessageLike(Protocol):
    def topic(self) -> str | None: ...
    def partition(self) -> int | None: ...
    def offset(self) -> int | None: ...
    def key(self) -> bytes | None: ...
    def value(self) -> bytes | None: ...
    def error(self) -> Any: ...


Received = tuple[MessageLike, Envelope]


def source_id(message: MessageLike) -> str:
    """``topic/partition/offset``: where a message came from, in quarantine rows and logs."""
    return f"{message.topic()}/{message.partition()}/{message.offset()}"


@dataclass(frozen=True)
class Refused:
    """A message that could not be read as a record of the dataset its topic carries."""

    message: MessageLike
    rule: str
    """``undecodable`` or ``wrong_topic`` (stage ``decode``)."""
    reason: str


@dataclass
class DatasetBatch:
    """One dataset's share of a batch of messages."""

    dataset: str
    spec: Dataset
    received: list[Received]
    """Every decoded message of the dataset, in arrival order."""
    items: list[Received]
    """The newest message per provider record: what was parsed (``record_index`` points here)."""
    normalised: NormalisedBatch | None
    """None when the parser raised (``error``)."""
    error: Exception | None = None


@dataclass
class MessageBatch:
    datasets: list[DatasetBatch]
    refused: list[Refused]
    next_offsets: dict[tuple[str, int], int]
    """Per (topic, partition), the offset after the last message seen (refused ones included)."""
    messages: int
    """Messages without a transport error."""


def normalise_messages(messages: list[MessageLike], now: datetime) -> MessageBatch:
    """Decode, group, de-duplicate and normalise a batch of raw messages.

    A parser that raises on one dataset's records does not stop the others: that dataset's
    :class:`DatasetBatch` carries the exception instead of a :class:`NormalisedBatch`.
    """
    by_dataset, refused, next_offsets, counted = decode_messages(messages)
    datasets = []
    for dataset, received in by_dataset.items():
        spec = DATASETS[dataset]
        items = newest_per_record(received, spec)
        try:
            normalised = apply_record_rules(spec.normalise([e.record for _, e in items], now), dataset)
        except Exception as exc:  # a parser bug must not stop the other datasets
            datasets.append(DatasetBatch(dataset, spec, received, items, None, exc))
            continue
        datasets.append(DatasetBatch(dataset, spec, received, items, normalised))
    return MessageBatch(datasets, refused, next_offsets, counted)


def decode_messages(messages: list[MessageLike]) -> tuple[dict[str, list[Received]], list[Refused],
                                                         dict[tuple[str, int], int], int]:
    """Envelopes grouped by dataset, the refused messages, the next offsets and the message count."""
    by_dataset: dict[str, list[Received]] = defaultdict(list)
    refused: list[Refused] = []
    known = set(DATASETS)
    topics: dict[str, str] = {}
    counted = 0
    for message in messages:
        if message.error() is not None:
            continue
        counted += 1
        try:
            envelope = decode(message.value(), known)
        except DecodeError as exc:
            refused.append(Refused(message, "undecodable", str(exc)))
            continue
        expected_topic = topics.get(envelope.dataset) or topics.setdefault(envelope.dataset,
                                                                          raw_topic(envelope.dataset))
        if message.topic() != expected_topic:  # each topic carries one dataset's records
            refused.append(Refused(message, "wrong_topic",
                                   f"a {envelope.dataset} record on topic {message.topic()}, whose records belong "
                                   f"to another dataset (expected on {expected_topic})"))
            continue
        by_dataset[envelope.dataset].append((message, envelope))
    return by_dataset, refused, next_offsets(messages), counted


def next_offsets(messages: list[MessageLike]) -> dict[tuple[str, int], int]:
    """Per (topic, partition), the offset after the last message of the batch: what to commit
    once the batch landed, and where its lag is measured from."""
    after: dict[tuple[str, int], int] = {}
    for message in messages:
        if message.error() is not None:
            continue
        position = (str(message.topic()), int(message.partition() or 0))
        after[position] = max(after.get(position, 0), int(message.offset() or 0) + 1)
    return after


def newest_per_record(items: list[Received], spec: Dataset) -> list[Received]:
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
