"""Landing on DuckLake claims each Kafka partition of a batch, not the whole landing: a record's
key always comes through the same partition, so only batches sharing a partition can carry the
same keys (a rebalance: the old owner still writes what the new owner reads again). Those must
conflict and retry (else both would insert the same keys); batches of different partitions
must not conflict at all, or two consumers redo each other's work instead of scaling out.

Both transactions are held open until both have written (the real consumer path, with
``land`` wrapped to wait at a barrier on its first attempt), so their commits overlap for sure."""

import logging
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import energy_orchestration.streaming.consumer as consumer_module
from energy_orchestration.standin.synthetic_dk import power_system_right_now_record
from energy_orchestration.streaming.consumer import LandingConsumer, prepare_batch
from energy_orchestration.streaming.envelope import encode
from energy_orchestration.streaming.topics import raw_topic
from energy_orchestration.warehouse.lake import DuckLakeWarehouse
from tests.kafka_fakes import Message
from tests.warehouse_backends import new_warehouse

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 5, tzinfo=timezone.utc)
FETCHED = datetime(2026, 10, 5, 12, tzinfo=timezone.utc)


def batch(partition: int, minutes: range) -> list[Message]:
    """One message per minute of ``minutes``, all from ``partition``."""
    return [Message(encode("energidataservice", "PowerSystemRightNow",
                           power_system_right_now_record(START + timedelta(minutes=m)), FETCHED),
                    offset, partition=partition, topic=raw_topic("PowerSystemRightNow"))
            for offset, m in enumerate(minutes)]


@pytest.fixture
def lake(tmp_path: Path, request, monkeypatch) -> DuckLakeWarehouse:
    created = new_warehouse("ducklake", tmp_path, request, monkeypatch)
    assert isinstance(created, DuckLakeWarehouse)
    return created


def land_at_once(lake: DuckLakeWarehouse, batches: dict[str, list[Message]], monkeypatch, caplog) -> dict[str, int]:
    """Two consumers each land their batch through ``LandingConsumer._land``, their first attempts
    overlapping; returns how many attempts each needed."""
    both_written = threading.Barrier(2, timeout=60)
    attempts = {name: 0 for name in batches}
    real_land = consumer_module.land
    names: dict[int, str] = {}  # id of each consumer's LandingBatch -> its name
    errors: list[BaseException] = []

    def land_and_wait(connection, landing, landed_at):
        name = names[id(landing)]
        attempts[name] += 1
        result = real_land(connection, landing, landed_at)
        if attempts[name] == 1:
            both_written.wait()  # first attempts only: a retry runs alone
        return result

    monkeypatch.setattr(consumer_module, "land", land_and_wait)

    def run(name: str, messages: list[Message]) -> None:
        prepared = prepare_batch(messages, "claims-test")
        names[id(prepared.landing)] = name
        try:
            LandingConsumer("127.0.0.1:1", lake, "claims-test")._land(prepared.landing, prepared.raw_messages)
        except BaseException as exc:  # reported to the test
            errors.append(exc)
            both_written.abort()

    threads = [threading.Thread(target=run, args=item) for item in batches.items()]
    with caplog.at_level(logging.WARNING, logger="energy_orchestration.warehouse.lake"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not errors, errors
    with lake.connect(read_only=True) as db:  # every message was landed, none refused
        assert db.execute("SELECT DISTINCT dataset FROM ingest_log").fetchall() == [("PowerSystemRightNow",)]
    return attempts


def stored(lake: DuckLakeWarehouse) -> tuple[int, int, int, int]:
    """Distinct minutes landed, observation rows, duplicated observation keys, duplicated raw keys."""
    with lake.connect(read_only=True) as db:
        return db.execute("""
            SELECT (SELECT count(DISTINCT interval_start_utc) FROM observations),
                   (SELECT count(*) FROM observations),
                   (SELECT count(*) FROM (SELECT dataset, zone, quantity, interval_start_utc FROM observations
                                          GROUP BY ALL HAVING count(*) > 1)),
                   (SELECT count(*) FROM (SELECT dataset, record_key FROM raw_records
                                          GROUP BY ALL HAVING count(*) > 1))""").fetchall()[0]


def test_two_consumers_landing_the_same_partition_conflict_and_the_retry_adds_no_duplicate(
        lake, monkeypatch, caplog):
    """The rebalance case: the new owner of partition 0 lands minutes 0-39 again while the old
    owner still lands minutes 0-29 of it: one commit loses, is retried and finds the other's rows."""
    attempts = land_at_once(lake, {"old": batch(0, range(0, 30)), "new": batch(0, range(0, 40))}, monkeypatch, caplog)
    assert sorted(attempts.values()) == [1, 2]  # exactly one lost the conflict and was retried once
    assert "landing a batch lost a transaction conflict" in caplog.text
    minutes, rows, duplicates, raw_duplicates = stored(lake)
    assert (minutes, duplicates, raw_duplicates) == (40, 0, 0)
    assert rows == 40 * rows_per_minute(lake)


def test_two_consumers_landing_different_partitions_do_not_conflict(lake, monkeypatch, caplog):
    """Disjoint partitions (even minutes in partition 0, odd ones in 1, so the batches' time
    ranges overlap as they do live): both commit on their first attempt, nothing is retried."""
    attempts = land_at_once(lake, {"p0": batch(0, range(0, 80, 2)), "p1": batch(1, range(1, 80, 2))},
                            monkeypatch, caplog)
    assert attempts == {"p0": 1, "p1": 1}
    assert "conflict" not in caplog.text
    minutes, rows, duplicates, raw_duplicates = stored(lake)
    assert (minutes, duplicates, raw_duplicates) == (80, 0, 0)
    assert rows == 80 * rows_per_minute(lake)


def rows_per_minute(lake: DuckLakeWarehouse) -> int:
    """Observation rows one PowerSystemRightNow minute gives (zones x quantities with a value)."""
    with lake.connect(read_only=True) as db:
        counts = {n for (n,) in db.execute("SELECT count(*) FROM observations GROUP BY interval_start_utc").fetchall()}
    assert len(counts) == 1, counts  # every minute has the same shape
    return counts.pop()
