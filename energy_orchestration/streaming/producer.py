"""Publishing fetched records: every delivery report is awaited, any failure fails the call.

Producers are short-lived: one per call, or one per live tick (``ingest.fetch_windows_within``
passes its own). An idempotent producer whose broker restarted never recovers, so a long-lived
one would turn a broker restart into a silent stall. A new idempotent producer first asks the
broker for its producer id 500 ms after it was created (librdkafka: "there are no available
brokers this early"), and every 500 ms after that until a connection is up; so a producer made
for 15 records took 0.5-1 s to publish them. :func:`new_producer` opens the connection first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from energy_orchestration.streaming.config import producer_config
from energy_orchestration.streaming.envelope import encoder

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """Some messages were not acknowledged by the broker; the window is not done."""


@dataclass(frozen=True)
class PublishResult:
    topic: str
    delivered: int


def new_producer(bootstrap_servers: str, timeout: float = 10.0) -> Producer:
    """A producer whose connection to the broker is up. Its metadata request (every topic, also
    cached for the first produce) opens the connection, and the producer id is then usually
    asked for at once: against the embedded broker, 15 records were acknowledged 0.06 s after
    creation in 9 of 12 trials, and 0.5 s in the other 3, against 0.5-1.0 s in all 12 without
    it (benchmarks/README.md, issue 11, sixth pass). A broker that does not answer within
    ``timeout`` fails here, before anything is produced."""
    producer = Producer(producer_config(bootstrap_servers))
    try:
        producer.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise PublishError(f"broker {bootstrap_servers} did not answer within {timeout:g}s: {exc}") from None
    return producer


def publish_records(bootstrap_servers: str, topic: str, provider: str, dataset: str,
                    records: Iterable[dict[str, Any]], key_of: Callable[[dict[str, Any]], str],
                    fetched_at: datetime, flush_timeout: float = 60.0,
                    producer: Producer | None = None) -> PublishResult:
    """Publish and wait for every acknowledgement. ``producer``: one the caller shares between
    calls (a failed call leaves it unfit: the caller should drop it); else one for this call."""
    producer = producer or new_producer(bootstrap_servers)
    failures: list[str] = []
    delivered = 0

    def on_delivery(error: KafkaError | None, message: Message) -> None:
        nonlocal delivered
        if error is not None:
            failures.append(f"{message.key()!r}: {error.str()}")
        else:
            delivered += 1

    sent = 0
    encode = encoder(provider, dataset, fetched_at)
    for record in records:
        payload = encode(record)
        while True:
            try:
                producer.produce(topic, key=key_of(record).encode(), value=payload, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.5)
        sent += 1
        if sent % 10_000 == 0:
            producer.poll(0)
    remaining = producer.flush(flush_timeout)
    if remaining:
        raise PublishError(f"{remaining} of {sent} messages to {topic} still undelivered after {flush_timeout:g}s")
    if failures:
        raise PublishError(f"{len(failures)} of {sent} messages to {topic} failed; first: {failures[0]}")
    log.info("published %d records to %s", delivered, topic)
    return PublishResult(topic=topic, delivered=delivered)
