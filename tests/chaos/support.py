"""Helpers of the chaos tests: publish minute records, run `energy consume` as a process, read
what landed and what the group committed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.standin.synthetic_dk import power_system_right_now_records
from energy_orchestration.streaming.config import consumer_config
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic
from energy_orchestration.warehouse import Warehouse

DATASET = "PowerSystemRightNow"
START = datetime(2025, 6, 1, tzinfo=timezone.utc)


def publish_minutes(bootstrap: str, minutes: int, first: int = 0) -> list[dict]:
    """``minutes`` PowerSystemRightNow records from START + ``first`` minutes; one message key
    (DK), so they sit in one partition in order: offset n = the n-th record published."""
    ensure_topics(bootstrap, all_topics([DATASET]))
    begin = START + timedelta(minutes=first)
    records = power_system_right_now_records(begin, begin + timedelta(minutes=minutes))
    publish_records(bootstrap, raw_topic(DATASET), "energidataservice", DATASET, records,
                    POWER_SYSTEM_RIGHT_NOW.message_zone, datetime.now(timezone.utc))
    return records


def start_consumer(bootstrap: str, warehouse: Warehouse, group: str, prefix: str, log_path: Path,
                   **extra: str) -> subprocess.Popen:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENERGY_WAREHOUSE_PATH": str(warehouse.path),
           "ENERGY_CONSUMER_GROUP": group, "ENERGY_TOPIC_PREFIX": prefix, **extra}
    with open(log_path, "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "consume"], env=env,
                                stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def committed_offset(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed next offset per partition (0 when nothing was committed)."""
    probe = Consumer(consumer_config(bootstrap, group))
    try:
        partitions = probe.list_topics(topic, timeout=10).topics[topic].partitions
        committed = probe.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        probe.close()
    return {c.partition: max(c.offset, 0) for c in committed}


def landed_counts(warehouse: Warehouse) -> dict[str, int]:
    with warehouse.connect(read_only=True) as db:
        raw, intervals, duplicates = db.execute("""
            SELECT (SELECT count(*) FROM raw_records WHERE dataset = 'PowerSystemRightNow'),
                   (SELECT count(DISTINCT interval_start_utc) FROM observations WHERE dataset = 'PowerSystemRightNow'),
                   (SELECT count(*) FROM (SELECT 1 FROM observations
                                          GROUP BY dataset, zone, quantity, interval_start_utc HAVING count(*) > 1))
        """).fetchall()[0]
    return {"raw": raw, "intervals": intervals, "duplicates": duplicates}


def publish_records_as_is(bootstrap: str, records: list[dict]) -> None:
    """Publish PowerSystemRightNow records exactly as given (e.g. altered copies)."""
    publish_records(bootstrap, raw_topic(DATASET), "energidataservice", DATASET, records,
                    POWER_SYSTEM_RIGHT_NOW.message_zone, datetime.now(timezone.utc))
