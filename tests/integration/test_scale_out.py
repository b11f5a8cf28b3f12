"""Scale-out on real processes: two `energy consume` in one consumer group share the raw
topic's partitions while data flows (the second joins mid-stream, the first leaves
mid-stream: two rebalances) and land every record exactly once in effect, both writing
through the warehouse lock; then two `energy serve` processes give the same answers."""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from energy_orchestration.standin.synthetic_dk import power_system_right_now_record
from energy_orchestration.streaming.broker import free_port
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 5, 0, 0, tzinfo=timezone.utc)
CHUNKS, PER_CHUNK = 12, 60  # 720 minutes, one message each


def spawn(args: list[str], env: dict, log_path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", *args], env=env,
                            stdout=open(log_path, "wb"), stderr=subprocess.STDOUT, start_new_session=True)


def wait_until(what: str, condition, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def stop(process: subprocess.Popen) -> int:
    os.killpg(process.pid, signal.SIGTERM)
    return process.wait(60)


def test_two_consumers_share_the_partitions_and_two_apis_agree(tmp_path, bootstrap, warehouse, isolated_topics):
    ensure_topics(bootstrap, all_topics(["PowerSystemRightNow"]))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENERGY_WAREHOUSE_PATH": str(warehouse.path),
           "ENERGY_CONSUMER_GROUP": f"{isolated_topics}-landing", "ENERGY_CONSUMER_BATCH_MAX_SECONDS": "0.3",
           "ENERGY_API_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b", "api1", "api2")}
    first = spawn(["consume"], env, logs["a"])
    second = apis = None
    try:
        wait_until("consumer a", lambda: "reading" in logs["a"].read_text(), 60)
        for chunk in range(CHUNKS):
            minutes = [START + timedelta(minutes=chunk * PER_CHUNK + m) for m in range(PER_CHUNK)]
            publish_records(bootstrap, raw_topic("PowerSystemRightNow"), "energidataservice", "PowerSystemRightNow",
                            [power_system_right_now_record(m) for m in minutes], _spread,
                            datetime.now(timezone.utc))
            if chunk == 3:  # the second joins while data flows: rebalance
                second = spawn(["consume"], env, logs["b"])
                wait_until("consumer b", lambda: "reading" in logs["b"].read_text(), 60)
            if chunk == 8:  # the first leaves while data flows: rebalance again
                assert stop(first) == 0
            time.sleep(0.5)
        expected = CHUNKS * PER_CHUNK

        def landed() -> int:
            with warehouse.connect(read_only=True) as db:
                return db.execute("""SELECT count(DISTINCT interval_start_utc) FROM observations
                                     WHERE dataset = 'PowerSystemRightNow'""").fetchone()[0]

        wait_until("every minute landed", lambda: landed() == expected, 120, every=1)
        assert second is not None and stop(second) == 0
        with warehouse.connect(read_only=True) as db:
            duplicates = db.execute("""SELECT count(*) FROM (SELECT dataset, zone, quantity, interval_start_utc
                                       FROM observations GROUP BY ALL HAVING count(*) > 1)""").fetchone()[0]
            batches = db.execute("SELECT count(*), sum(messages) FROM ingest_log WHERE dataset = 'PowerSystemRightNow'"
                                 ).fetchone()
        # both landed part of the stream (their exit status lines), and every batch went through the lock
        landed_by = {}
        for name in ("a", "b"):
            line = [text for text in logs[name].read_text().splitlines()
                    if "landed " in text and " messages in " in text][-1]
            landed_by[name] = int(line.split("landed ")[1].split(" messages")[0])
        print(f"records in {expected}, minutes landed {landed()}, duplicate keys {duplicates}, "
              f"messages landed per consumer {landed_by}, ingest batches {batches}")
        assert duplicates == 0
        assert landed_by["a"] > 0 and landed_by["b"] > 4 * PER_CHUNK  # b also landed while a was still in the group
        assert landed_by["a"] + landed_by["b"] >= expected  # redelivery after a rebalance is allowed, loss is not
        assert batches[1] == landed_by["a"] + landed_by["b"]

        # two API processes over the same warehouse and topics give the same answers
        ports = [free_port(), free_port()]
        apis = [spawn(["serve", "--port", str(p)], env, logs[f"api{i + 1}"]) for i, p in enumerate(ports)]
        for port in ports:
            wait_until("an API caught up", lambda port=port: requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
                       .json().get("cache_caught_up") if _up(port) else False, 60)
        paths = ["/api/v1/zones/DK-DK1/latest",
                 "/api/v1/zones/DK-DK1/observations?from=2026-10-05T00:00&to=2026-10-05T06:00&limit=500",
                 "/api/v1/freshness"]
        for path in paths:
            answers = [requests.get(f"http://127.0.0.1:{port}{path}", timeout=10) for port in ports]
            assert all(a.status_code == 200 for a in answers), [a.text[:200] for a in answers]
            one, two = (_stable(a.json()) for a in answers)
            assert one == two, path
            if "freshness" not in path:
                assert any(isinstance(v, list) and v for v in one.values()), path  # not two empty answers
    finally:
        for process in [first, second, *(apis or [])]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _spread(record: dict) -> str:
    """Key by minute, not by zone (Denmark is one key): the stream covers every partition, so
    both consumers of the group have work after a rebalance."""
    return record["Minutes1UTC"]


def _up(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _stable(body):
    """An answer without the per-process bits (cache status, ages measured at request time)."""
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items()
                if k not in ("cache_caught_up", "age_seconds", "generated_at_utc", "now_utc")}
    if isinstance(body, list):
        return [_stable(v) for v in body]
    return body
