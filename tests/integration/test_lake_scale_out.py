"""Scale-out on DuckLake, on real processes (each standing in for a machine): two `energy consume`
in one consumer group, an aggregate builder and two `energy serve`, all on one DuckLake catalog
(a real PostgreSQL started by the test, Parquet in tmp), no file lock anywhere. While the
records flow through the embedded broker the APIs keep answering reads from the warehouse; at
the end nothing is lost, no key is duplicated, and the aggregates are what a fresh build gives."""

import os
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from energy_orchestration.standin.synthetic_dk import power_system_right_now_record
from energy_orchestration.streaming.broker import free_port
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic
from energy_orchestration.warehouse.aggregates import build_zone_hourly
from tests.integration.test_scale_out import _spread, _up, spawn, stop, wait_until
from tests.warehouse_backends import new_warehouse

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 5, 0, 0, tzinfo=timezone.utc)
CHUNKS, PER_CHUNK = 12, 60  # 720 minutes, one message each
HOURS = (START.replace(tzinfo=None), START.replace(tzinfo=None) + timedelta(minutes=CHUNKS * PER_CHUNK))

BUILDER = """
import sys, time
from datetime import datetime
from pathlib import Path
from energy_orchestration.warehouse import default_warehouse
from energy_orchestration.warehouse.aggregates import build_zone_hourly
start, end, done = datetime.fromisoformat(sys.argv[1]), datetime.fromisoformat(sys.argv[2]), Path(sys.argv[3])
warehouse, builds = default_warehouse(), 0
while True:
    last = done.exists()  # checked before the build: the final build starts after every record landed
    warehouse.write(lambda db: build_zone_hourly(db, start, end), what="building zone_hourly")
    builds += 1
    if last:
        break
    time.sleep(0.3)
print(f"built zone_hourly {builds} times", flush=True)
"""


def test_two_consumers_a_builder_and_two_apis_share_one_ducklake(tmp_path, bootstrap, isolated_topics, request,
                                                                  monkeypatch):
    warehouse = new_warehouse("ducklake", tmp_path, request, monkeypatch)
    ensure_topics(bootstrap, all_topics(["PowerSystemRightNow"]))
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENERGY_CONSUMER_GROUP": f"{isolated_topics}-landing",
           "ENERGY_CONSUMER_BATCH_MAX_SECONDS": "0.3", "ENERGY_API_HOST": "127.0.0.1", "PYTHONUNBUFFERED": "1"}
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b", "api1", "api2", "builder")}
    ports = [free_port(), free_port()]
    done = tmp_path / "all-landed"
    processes: list[subprocess.Popen] = []
    latencies: list[float] = []
    failures: list[str] = []
    polling = threading.Event()
    try:
        processes += [spawn(["serve", "--port", str(p)], env, logs[f"api{i + 1}"]) for i, p in enumerate(ports)]
        for port in ports:
            wait_until("an API up", lambda port=port: _up(port), 60)
        consumers = [spawn(["consume"], env, logs[name]) for name in ("a", "b")]
        processes += consumers
        for name in ("a", "b"):
            wait_until(f"consumer {name}", lambda name=name: "reading" in logs[name].read_text(), 60)
        builder = subprocess.Popen([sys.executable, "-c", BUILDER, HOURS[0].isoformat(), HOURS[1].isoformat(),
                                    str(done)], env=env, stdout=open(logs["builder"], "wb"), stderr=subprocess.STDOUT)
        processes.append(builder)

        paths = ["/api/v1/zones/DK-DK1/days/2026-10-05",
                 "/api/v1/zones/DK-DK1/observations?from=2026-10-05T00:00&to=2026-10-05T12:00&limit=1000",
                 "/api/v1/zones/DK-DK1/aggregates/hourly?from=2026-10-05&to=2026-10-05"]

        def poll() -> None:  # reads against both APIs, back to back, for as long as the writers write
            n = 0
            while not polling.is_set():
                port, path = ports[n % 2], paths[n % len(paths)]
                began = time.perf_counter()
                try:
                    answer = requests.get(f"http://127.0.0.1:{port}{path}", timeout=30)
                    if answer.status_code != 200:
                        failures.append(f"{path}: {answer.status_code} {answer.text[:200]}")
                except requests.RequestException as exc:
                    failures.append(f"{path}: {exc}")
                latencies.append(time.perf_counter() - began)
                n += 1

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        for chunk in range(CHUNKS):
            minutes = [START + timedelta(minutes=chunk * PER_CHUNK + m) for m in range(PER_CHUNK)]
            publish_records(bootstrap, raw_topic("PowerSystemRightNow"), "energidataservice", "PowerSystemRightNow",
                            [power_system_right_now_record(m) for m in minutes], _spread, START + timedelta(hours=12))
            time.sleep(0.5)
        expected = CHUNKS * PER_CHUNK

        def landed() -> int:
            with warehouse.connect(read_only=True) as db:
                return db.execute("""SELECT count(DISTINCT interval_start_utc) FROM observations
                                     WHERE dataset = 'PowerSystemRightNow'""").fetchone()[0]

        wait_until("every minute landed", lambda: landed() == expected, 180, every=1)
        done.touch()
        assert builder.wait(120) == 0, logs["builder"].read_text()[-2000:]
        polling.set()
        poller.join(60)
        for consumer in consumers:
            assert stop(consumer) == 0

        with warehouse.connect(read_only=True) as db:
            duplicates = db.execute("""SELECT count(*) FROM (SELECT dataset, zone, quantity, interval_start_utc
                                       FROM observations GROUP BY ALL HAVING count(*) > 1)""").fetchone()[0]
            raw_duplicates = db.execute("""SELECT count(*) FROM (SELECT dataset, record_key FROM raw_records
                                           GROUP BY ALL HAVING count(*) > 1)""").fetchone()[0]
            batches = db.execute("SELECT count(*), sum(messages) FROM ingest_log WHERE dataset = 'PowerSystemRightNow'"
                                 ).fetchone()
            hourly = db.execute("SELECT * EXCLUDE (built_at_utc) FROM zone_hourly ORDER BY ALL").fetchall()
        with warehouse.connect() as db:  # what a fresh build over the final data gives; rolled back
            db.execute("BEGIN TRANSACTION")
            build_zone_hourly(db, *HOURS)
            fresh = db.execute("SELECT * EXCLUDE (built_at_utc) FROM zone_hourly ORDER BY ALL").fetchall()
            db.execute("ROLLBACK")
        landed_by = {}
        for name in ("a", "b"):
            line = [text for text in logs[name].read_text().splitlines()
                    if "landed " in text and " messages in " in text][-1]
            landed_by[name] = int(line.split("landed ")[1].split(" messages")[0])
        ordered = sorted(latencies)
        print(f"\nminutes landed {landed()} of {expected}, duplicate keys {duplicates}/{raw_duplicates}, "
              f"messages landed per consumer {landed_by}, ingest batches {batches}, "
              f"{logs['builder'].read_text().strip()}, zone_hourly rows {len(hourly)}; "
              f"API reads during landing: {len(latencies)} requests, {len(failures)} failed, latency median "
              f"{statistics.median(ordered) * 1000:.0f} ms, p95 {ordered[int(len(ordered) * 0.95)] * 1000:.0f} ms, "
              f"max {ordered[-1] * 1000:.0f} ms")
        assert failures == []
        assert len(latencies) >= 20  # the reads really ran during the landing
        assert duplicates == 0 and raw_duplicates == 0
        assert landed_by["a"] > 0 and landed_by["b"] > 0  # both consumers took part
        assert landed_by["a"] + landed_by["b"] >= expected and batches[1] == landed_by["a"] + landed_by["b"]
        assert _rounded(hourly) == _rounded(fresh) and len({row[1] for row in hourly}) == CHUNKS * PER_CHUNK // 60
    finally:
        polling.set()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def _rounded(rows: list[tuple]) -> list[tuple]:
    """Rows with floats to 9 significant digits: a parallel sum's last bits depend on the order
    in which DuckDB's threads add (and Parquet files are read), not on the data."""
    return [tuple(float(f"{v:.9g}") if isinstance(v, float) else v for v in row) for row in rows]
