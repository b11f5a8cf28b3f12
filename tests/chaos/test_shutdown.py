"""SIGTERM while a batch cannot land (another process holds the warehouse lock, or the write
fails) with several batches in flight: nothing after the stuck batch may be committed, the
process ends within a bounded time, and a restart lands every record exactly once."""

import signal
import threading
import time

import duckdb
import pytest

from energy_orchestration.streaming.consumer import LandingConsumer
from energy_orchestration.streaming.topics import raw_topic
from tests.chaos.support import (
    DATASET,
    committed_offset,
    landed_counts,
    publish_minutes,
    start_consumer,
    wait_for,
)

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

RECORDS = 600


def _hold_lock(warehouse):
    """Another process of the platform holding the warehouse (a long aggregate build)."""
    return warehouse.connect()


class _ForeignWriter:
    """A process that opened the DuckDB file itself, outside the platform's lock: every write
    attempt of the consumer fails with DuckDB's own lock error (a failing write, not a wait)."""

    def __init__(self, warehouse):
        self.path = warehouse.path

    def __enter__(self):
        self.connection = duckdb.connect(str(self.path))
        return self

    def __exit__(self, *exc):
        self.connection.close()


@pytest.mark.parametrize(("blocker", "landed_first"), [("lock", 0), ("lock", 200), ("failing_write", 200)])
def test_sigterm_with_a_stuck_batch_commits_nothing_past_it(blocker, landed_first, bootstrap, warehouse,
                                                            isolated_topics, tmp_path):
    group = f"{isolated_topics}-service"
    topic = raw_topic(DATASET)
    log_path = tmp_path / "consumer.log"
    with warehouse.connect():
        pass  # the file exists and is migrated
    settings = {"ENERGY_CONSUMER_BATCH_MAX_MESSAGES": "100", "ENERGY_CONSUMER_BATCH_MAX_SECONDS": "0.2",
                "ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS": "2"}
    service = start_consumer(bootstrap, warehouse, group, isolated_topics, log_path, **settings)
    try:
        if landed_first:
            publish_minutes(bootstrap, landed_first)
            wait_for(lambda: landed_counts(warehouse)["raw"] == landed_first, 60, "the first records to land")
            wait_for(lambda: committed_offset(bootstrap, group, topic).get(_partition(warehouse), 0) == landed_first,
                     30, "their offsets to be committed")
        blocking = _hold_lock(warehouse) if blocker == "lock" else _ForeignWriter(warehouse)
        with blocking:
            publish_minutes(bootstrap, RECORDS - landed_first, first=landed_first)
            # the writer retries one batch while the reader has queued and prepared the next ones;
            # after the third attempt it waits 2 s before the next one
            wait_for(lambda: log_path.read_text().count("retrying") >= 3, 60, "three failed landing attempts")
        # the blocker goes away just as SIGTERM arrives: an unfixed writer gives the stuck batch
        # up, lands the next one and commits past the stuck one
        service.send_signal(signal.SIGTERM)
        # the blocker is gone: an unfixed writer would now land a later batch and commit past the stuck one
        began = time.monotonic()
        code = service.wait(40)
        stopped_in = time.monotonic() - began
    finally:
        if service.poll() is None:
            service.kill()
    log_text = log_path.read_text()
    assert code == 0, log_text
    assert stopped_in < 30, log_text
    committed = committed_offset(bootstrap, group, topic)
    with warehouse.connect(read_only=True) as db:
        for partition, offset in committed.items():
            landed_below = db.execute("""SELECT count(*) FROM raw_records
                                         WHERE kafka_partition = ? AND kafka_offset < ?""",
                                      [partition, offset]).fetchall()[0][0]
            assert landed_below == offset, f"partition {partition}: committed {offset}, landed {landed_below}"
    assert sum(committed.values()) < RECORDS  # the stuck batch really was stuck
    # a restart lands everything: 0 lost, 0 duplicate keys
    LandingConsumer(bootstrap, warehouse, group, batch_max_messages=500,
                    batch_max_seconds=0.2).run(threading.Event(), idle_exit_seconds=2)
    assert landed_counts(warehouse) == {"raw": RECORDS, "intervals": RECORDS, "duplicates": 0}
    assert sum(committed_offset(bootstrap, group, topic).values()) == RECORDS


def _partition(warehouse) -> int:
    with warehouse.connect(read_only=True) as db:
        found = db.execute("SELECT any_value(kafka_partition) FROM raw_records").fetchall()[0][0]
    return int(found or 0)
