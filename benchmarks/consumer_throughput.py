"""Landing throughput: N pre-produced PowerSystemRightNow records, Kafka -> DuckDB.

Compares the landing consumer with a naive baseline measured in the same run on the same
messages: decode + parse each message, then one ``INSERT`` per canonical row. The baseline
runs on a sample (it is ~100x slower) and is reported as a rate.

    .venv/bin/python -m benchmarks.consumer_throughput [--records 500000] [--baseline-records 5000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from confluent_kafka import Consumer

from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.standin.synthetic_dk import power_system_right_now_records
from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.config import consumer_config
from energy_orchestration.streaming.consumer import LandingConsumer
from energy_orchestration.streaming.envelope import decode
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic
from energy_orchestration.warehouse import Warehouse

RESULTS = Path(__file__).with_name("results")
DATASET = "PowerSystemRightNow"


def produce(bootstrap: str, records: int) -> float:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    payload = power_system_right_now_records(start, start + timedelta(minutes=records))
    ensure_topics(bootstrap, all_topics([DATASET]))
    began = time.perf_counter()
    publish_records(bootstrap, raw_topic(DATASET), "energidataservice", DATASET, payload,
                    POWER_SYSTEM_RIGHT_NOW.message_zone, datetime.now(timezone.utc))
    return time.perf_counter() - began


def measure_consumer(bootstrap: str, warehouse: Warehouse, records: int) -> dict:
    consumer = LandingConsumer(bootstrap, warehouse, "bench-landing", status_every_seconds=10)
    began = time.perf_counter()
    done = threading.Event()
    finished_at: list[float] = []

    def watch() -> None:  # stop the clock when the last message has landed, not after the idle wait
        while not done.is_set():
            if consumer.stats.messages >= records:
                finished_at.append(time.perf_counter())
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stats = consumer.run(threading.Event(), idle_exit_seconds=3)
    done.set()
    watcher.join()
    elapsed = (finished_at[0] if finished_at else time.perf_counter()) - began
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("SELECT count(*) FROM observations").fetchall()[0][0]
    return {"seconds": round(elapsed, 2), "messages": stats.messages, "observations": rows,
            "records_per_s": round(stats.messages / elapsed), "rows_per_s": round(rows / elapsed),
            "batches": stats.batches}


def measure_baseline(bootstrap: str, warehouse: Warehouse, records: int) -> dict:
    """Row-by-row: what a first, naive consumer would do."""
    consumer = Consumer(consumer_config(bootstrap, "bench-naive"))
    consumer.subscribe([raw_topic(DATASET)])
    messages = []
    while len(messages) < records:
        messages += [m for m in consumer.consume(min(1000, records - len(messages)), 2.0) if m.error() is None]
    consumer.close()
    began = time.perf_counter()
    rows = 0
    with warehouse.connect() as db:
        for message in messages:
            envelope = decode(message.value(), {DATASET})
            batch = POWER_SYSTEM_RIGHT_NOW.normalise([envelope.record])
            for row in batch.observations.itertuples(index=False):
                db.execute("INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now())",
                           [row.dataset, row.zone, row.quantity, row.interval_start_utc, row.interval_minutes,
                            row.value, row.unit, row.status, envelope.fetched_at_utc, message.partition(),
                            message.offset()])
                rows += 1
    elapsed = time.perf_counter() - began
    return {"seconds": round(elapsed, 2), "messages": len(messages), "observations": rows,
            "records_per_s": round(len(messages) / elapsed), "rows_per_s": round(rows / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--baseline-records", type=int, default=500)
    args = parser.parse_args()
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as folder:
        print(f"producing {args.records:,} records ...", flush=True)
        produce_s = produce(broker.bootstrap_servers, args.records)
        print(f"  produced in {produce_s:.1f}s; landing with the consumer ...", flush=True)
        ours = measure_consumer(broker.bootstrap_servers, Warehouse(Path(folder) / "ours.duckdb"), args.records)
        print(f"  {ours}\nbaseline: row-by-row INSERT on {args.baseline_records:,} records ...", flush=True)
        naive = measure_baseline(broker.bootstrap_servers, Warehouse(Path(folder) / "naive.duckdb"),
                                 args.baseline_records)
        print(f"  {naive}")
    result = {"benchmark": "consumer_throughput", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "records": args.records, "produce_seconds": round(produce_s, 2), "consumer": ours, "baseline": naive,
              "speedup_records_per_s": round(ours["records_per_s"] / naive["records_per_s"], 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "consumer_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
