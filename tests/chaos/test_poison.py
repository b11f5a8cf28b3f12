"""Messages and batches that used to stall landing for ever: a dead letter bigger than the
broker accepts, a message whose DuckDB write fails deterministically, a dying writer thread.
Each must cost only itself (kept in quarantine with the real reason) and never stop the rest."""

import threading
import time

import pytest
from confluent_kafka import Consumer, Producer

from energy_orchestration.streaming.config import consumer_config, producer_config
from energy_orchestration.streaming.consumer import LandingConsumer, WriterDied
from energy_orchestration.streaming.health import describe, read_health
from energy_orchestration.streaming.topics import dead_letter_topic, raw_topic
from tests.chaos.support import DATASET, landed_counts, publish_minutes, publish_records_as_is, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def _produce_raw(bootstrap: str, value: bytes, key: bytes = b"DK") -> None:
    producer = Producer({**producer_config(bootstrap), "message.max.bytes": 5_000_000})
    failed = []
    producer.produce(raw_topic(DATASET), key=key, value=value,
                     on_delivery=lambda err, _m: failed.append(err) if err else None)
    assert producer.flush(30) == 0 and not failed, failed


def _dead_letters(bootstrap: str, group: str) -> list:
    probe = Consumer(consumer_config(bootstrap, group))
    probe.subscribe([dead_letter_topic()])
    found, deadline = [], time.monotonic() + 15
    while time.monotonic() < deadline and not found:
        found += [m for m in probe.consume(100, 0.5) if m.error() is None]
    probe.close()
    return found


def test_an_oversized_undecodable_message_is_summarised_and_landing_goes_on(bootstrap, warehouse, land_all,
                                                                             isolated_topics):
    publish_minutes(bootstrap, 50)
    huge = b"x" * 3_000_000  # not JSON, and the dead letter (value + headers) exceeds the 1 MB limit
    _produce_raw(bootstrap, huge)
    publish_minutes(bootstrap, 50, first=50)
    stats = land_all()
    assert stats.dead_lettered == 1
    assert landed_counts(warehouse) == {"raw": 100, "intervals": 100, "duplicates": 0}
    with warehouse.connect(read_only=True) as db:
        rule, size = db.execute("SELECT rule, length(payload) FROM quarantine WHERE stage = 'decode'").fetchall()[0]
    assert rule == "undecodable" and size == len(huge)  # the full payload is kept
    letters = _dead_letters(bootstrap, f"{isolated_topics}-dlq-probe")
    assert len(letters) == 1
    summary = letters[0].value()
    assert len(summary) < 10_000 and b'"truncated":true' in summary and b'"original_bytes":3000000' in summary


def _refuse_payloads_containing(warehouse, marker: str) -> None:
    """Give raw_records a CHECK constraint: a real, deterministic DuckDB write failure for every
    batch holding a record whose payload contains ``marker`` (a stand-in for whatever input a
    future DuckDB or schema refuses)."""
    with warehouse.connect() as db:
        db.execute("ALTER TABLE raw_records RENAME TO raw_records_unchecked")
        db.execute(f"""
            CREATE TABLE raw_records (
                dataset VARCHAR NOT NULL, record_key VARCHAR NOT NULL, interval_start_utc TIMESTAMP,
                payload JSON NOT NULL CHECK (NOT contains(payload::VARCHAR, '{marker}')),
                fetched_at_utc TIMESTAMP, kafka_partition INTEGER, kafka_offset BIGINT,
                landed_at_utc TIMESTAMP NOT NULL, PRIMARY KEY (dataset, record_key))""")


def test_a_message_whose_write_fails_is_isolated_and_the_rest_lands(bootstrap, warehouse, land_all):
    _refuse_payloads_containing(warehouse, "POISON")
    records = publish_minutes(bootstrap, 300)
    poisoned = [dict(records[i], Note="POISON") for i in (17, 201)]  # same intervals, re-sent with a bad field
    publish_records_as_is(bootstrap, poisoned)
    began = time.monotonic()
    stats = land_all()
    assert time.monotonic() - began < 90  # isolated, not retried for ever
    assert landed_counts(warehouse)["duplicates"] == 0
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT count(*) FROM raw_records").fetchall()[0][0] == 300
        reasons = db.execute("SELECT reason FROM quarantine WHERE rule = 'write_failed'").fetchall()
    assert len(reasons) == 2
    for (reason,) in reasons:
        assert "Constraint" in reason and "CHECK" in reason and "transaction is aborted" not in reason
    assert stats.messages == 302 and stats.dead_lettered == 2


def test_a_dead_writer_thread_ends_the_run_with_the_reason(bootstrap, warehouse, isolated_topics):
    """Whatever kills the writer (here: a bug in landing, simulated by replacing the method), the
    reader notices within a poll, raises WriterDied, and the health file says 'failed'."""
    publish_minutes(bootstrap, 30)

    class Broken(LandingConsumer):
        def _write(self, prepared, stop):
            raise RuntimeError("simulated writer bug")

    consumer = Broken(bootstrap, warehouse, f"{isolated_topics}-broken", batch_max_seconds=0.2)
    stop, hung = threading.Event(), threading.Event()
    timer = threading.Timer(60, lambda: (hung.set(), stop.set()))  # a hang would otherwise be the failure mode
    timer.start()
    began = time.monotonic()
    try:
        with pytest.raises(WriterDied, match="simulated writer bug"):
            consumer.run(stop, idle_exit_seconds=30)
    finally:
        timer.cancel()
    assert not hung.is_set() and time.monotonic() - began < 30
    health = read_health(warehouse.path)
    assert health is not None and health.state == "failed"
    verdict = describe(health, now=__import__("datetime").datetime(2100, 1, 1))
    assert not verdict["ok"] and "simulated writer bug" in verdict["message"]


def test_a_failure_of_every_message_is_not_blamed_on_the_messages(bootstrap, warehouse, isolated_topics):
    """When each message fails on its own, the cause is the warehouse, not the data: nothing is
    quarantined, nothing committed, and the consumer reports itself stalled."""
    _refuse_payloads_containing(warehouse, "Minutes1UTC")  # every PowerSystemRightNow record
    publish_minutes(bootstrap, 20)
    stop = threading.Event()
    consumer = LandingConsumer(bootstrap, warehouse, f"{isolated_topics}-all-bad", batch_max_seconds=0.2)
    runner = threading.Thread(target=consumer.run, args=(stop,))
    runner.start()
    try:
        last_error = lambda: getattr(read_health(warehouse.path), "last_error", None) or ""  # noqa: E731
        wait_for(lambda: "not the messages' fault" in last_error(), 60, "the isolation to give up on blaming messages")
        assert read_health(warehouse.path).state == "stalled"
    finally:
        stop.set()
        runner.join(60)
    assert not runner.is_alive()
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0
        assert db.execute("SELECT count(*) FROM raw_records").fetchall()[0][0] == 0
    assert consumer.stats.batches == 0  # nothing committed: the batch is replayed on the next start
