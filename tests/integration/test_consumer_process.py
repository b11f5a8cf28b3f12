"""`energy consume` as its own process: lands, then exits cleanly on SIGTERM with offsets committed."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest
from confluent_kafka import Consumer, TopicPartition

from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.standin.synthetic_dk import power_system_right_now_records
from energy_orchestration.streaming.config import consumer_config
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic

pytestmark = pytest.mark.integration


def test_sigterm_finishes_cleanly_and_nothing_is_reprocessed(bootstrap, warehouse, isolated_topics, tmp_path):
    ensure_topics(bootstrap, all_topics(["PowerSystemRightNow"]))
    start = datetime(2025, 6, 1, tzinfo=timezone.utc)
    records = power_system_right_now_records(start, start.replace(hour=2))  # 120 minutes
    publish_records(bootstrap, raw_topic("PowerSystemRightNow"), "energidataservice", "PowerSystemRightNow",
                    records, POWER_SYSTEM_RIGHT_NOW.message_zone, datetime.now(timezone.utc))
    group = f"{isolated_topics}-service"
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENERGY_WAREHOUSE_PATH": str(warehouse.path),
           "ENERGY_CONSUMER_GROUP": group, "ENERGY_TOPIC_PREFIX": isolated_topics}
    log_path = tmp_path / "consumer.log"
    with open(log_path, "wb") as log:
        service = subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "consume"], env=env,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if warehouse.path.exists():
                    with warehouse.connect(read_only=True) as db:
                        if db.execute("SELECT count(*) FROM raw_records").fetchall()[0][0] == 120:
                            break
                time.sleep(0.5)
            service.send_signal(signal.SIGTERM)
            assert service.wait(30) == 0, log_path.read_text()
        finally:
            if service.poll() is None:
                service.kill()
    assert "finishing the current batch, then exiting" in log_path.read_text()
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT count(DISTINCT interval_start_utc) FROM observations").fetchall()[0][0] == 120
    # the group's committed offsets cover every message: a restart reprocesses nothing.
    # (Queried high watermarks are unreliable on the embedded broker, so ask the group itself.)
    probe = Consumer(consumer_config(bootstrap, group))
    topic = raw_topic("PowerSystemRightNow")
    partitions = probe.list_topics(topic, timeout=10).topics[topic].partitions
    committed = probe.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    assert sum(max(c.offset, 0) for c in committed) == 120
    probe.subscribe([topic])
    received, deadline = [], time.monotonic() + 8
    while time.monotonic() < deadline:
        received += [m for m in probe.consume(100, 0.5) if m.error() is None]
    assigned = probe.assignment()
    probe.close()
    assert assigned and received == []
