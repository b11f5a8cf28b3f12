"""Landing throughput: N pre-produced PowerSystemRightNow records, Kafka -> DuckDB.

Compares the landing consumer, on the same messages in the same run, with
- a *limit*: the simplest pipeline that still produces the same canonical rows -- consume in
  batches, JSON-decode each envelope, melt the mapped columns into long rows with numpy and
  bulk-append them to ``observations`` (no validation, no de-duplication, no upsert, no raw
  records, no quarantine, no ingest log, no offset commits). Our throughput is reported as a
  percentage of it;
- a naive baseline: decode + parse each message, then one ``INSERT`` per canonical row. It runs
  on a sample (it is ~100x slower) and is reported as a rate;
- with ``--batch-sizes``, the landing consumer once per largest batch
  (``ENERGY_CONSUMER_BATCH_MAX_MESSAGES``), each into its own warehouse, the first as the
  baseline. The headline and the limit use the configured default.

    .venv/bin/python -m benchmarks.consumer_throughput [--records 500000] [--baseline-records 5000]
        [--batch-sizes 20000,60000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
from confluent_kafka import Consumer

from benchmarks.machine import speed_reference
from energy_orchestration import settings
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
DEFAULT_BATCH = int(settings.default("ENERGY_CONSUMER_BATCH_MAX_MESSAGES"))
DATASET = "PowerSystemRightNow"


def produce(bootstrap: str, records: int) -> float:
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    payload = power_system_right_now_records(start, start + timedelta(minutes=records))
    ensure_topics(bootstrap, all_topics([DATASET]))
    began = time.perf_counter()
    publish_records(bootstrap, raw_topic(DATASET), "energidataservice", DATASET, payload,
                    POWER_SYSTEM_RIGHT_NOW.message_zone, datetime.now(timezone.utc))
    return time.perf_counter() - began


def measure_consumer(bootstrap: str, warehouse: Warehouse, records: int, batch: int = DEFAULT_BATCH) -> dict:
    consumer = LandingConsumer(bootstrap, warehouse, f"bench-landing-{batch}", batch_max_messages=batch,
                               status_every_seconds=10)
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
            "batches": stats.batches, "batch_max_messages": batch}


def measure_limit(bootstrap: str, warehouse: Warehouse, records: int, batch: int = DEFAULT_BATCH) -> dict:
    """The simplest pipeline to the same canonical rows (see the module docstring): the bound
    for anything that consumes, parses and appends these messages with Kafka and DuckDB."""
    mappings = [(m.column, m.zone, m.quantity, str(m.unit), m.sign) for m in POWER_SYSTEM_RIGHT_NOW.mappings]
    consumer = Consumer(consumer_config(bootstrap, "bench-limit"))
    consumer.subscribe([raw_topic(DATASET)])
    began = time.perf_counter()
    seen = rows = 0
    with warehouse.connect() as db:
        while seen < records:
            messages = [m for m in consumer.consume(min(batch, records - seen), 2.0) if m.error() is None]
            if not messages:
                continue
            seen += len(messages)
            documents = [orjson.loads(m.value()) for m in messages]
            times = pd.to_datetime([d["record"]["Minutes1UTC"] for d in documents]).to_numpy("datetime64[us]")
            fetched = pd.to_datetime([d["fetched_at"] for d in documents]).tz_localize(None).to_numpy("datetime64[us]")
            partitions = np.array([m.partition() for m in messages], dtype=np.int32)
            offsets = np.array([m.offset() for m in messages], dtype=np.int64)
            parts = []
            for column, zone, quantity, unit, sign in mappings:
                values = np.array([d["record"].get(column) for d in documents], dtype=float) * sign
                present = ~np.isnan(values)
                parts.append(pd.DataFrame({
                    "dataset": DATASET, "zone": zone, "quantity": quantity, "interval_start_utc": times[present],
                    "interval_minutes": 1, "value": values[present], "unit": unit, "status": "realtime",
                    "fetched_at_utc": fetched[present], "kafka_partition": partitions[present],
                    "kafka_offset": offsets[present]}))
            frame = pd.concat(parts, ignore_index=True)
            db.register("limit_batch", frame)
            db.execute("INSERT INTO observations SELECT *, now()::TIMESTAMP FROM limit_batch")
            db.unregister("limit_batch")
            rows += len(frame)
    elapsed = time.perf_counter() - began
    consumer.close()
    return {"seconds": round(elapsed, 2), "messages": seen, "observations": rows,
            "records_per_s": round(seen / elapsed), "rows_per_s": round(rows / elapsed)}


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
    parser.add_argument("--batch-sizes", default=str(DEFAULT_BATCH),
                        help="comma-separated largest batches for the landing consumer, the first the baseline")
    args = parser.parse_args()
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    with EmbeddedBroker() as broker, tempfile.TemporaryDirectory() as folder:
        print(f"producing {args.records:,} records ...", flush=True)
        produce_s = produce(broker.bootstrap_servers, args.records)
        print(f"  produced in {produce_s:.1f}s; landing with the consumer ...", flush=True)
        by_size = []
        for size in sizes:
            by_size.append(measure_consumer(broker.bootstrap_servers, Warehouse(Path(folder) / f"ours-{size}.duckdb"),
                                            args.records, size))
            print(f"  batches of up to {size:,}: {by_size[-1]}", flush=True)
        if DEFAULT_BATCH not in sizes:
            by_size.append(measure_consumer(broker.bootstrap_servers, Warehouse(Path(folder) / "ours.duckdb"),
                                            args.records))
            print(f"  batches of up to {DEFAULT_BATCH:,} (the default): {by_size[-1]}", flush=True)
        ours = next(run for run in by_size if run["batch_max_messages"] == DEFAULT_BATCH)
        print("limit: consume, parse, bulk append ...", flush=True)
        limit = measure_limit(broker.bootstrap_servers, Warehouse(Path(folder) / "limit.duckdb"), args.records)
        print(f"  {limit}\nbaseline: row-by-row INSERT on {args.baseline_records:,} records ...", flush=True)
        naive = measure_baseline(broker.bootstrap_servers, Warehouse(Path(folder) / "naive.duckdb"),
                                 args.baseline_records)
        print(f"  {naive}")
    result = {"benchmark": "consumer_throughput", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": speed_reference(),
              "records": args.records, "produce_seconds": round(produce_s, 2), "consumer": ours, "limit": limit,
              "percent_of_limit": round(100 * ours["records_per_s"] / limit["records_per_s"], 1), "baseline": naive,
              "speedup_records_per_s": round(ours["records_per_s"] / naive["records_per_s"], 1)}
    if len(sizes) > 1:
        first = by_size[0]["records_per_s"]
        result["by_batch_size"] = [{**run, "ratio_to_first": round(run["records_per_s"] / first, 2)} for run in by_size]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "consumer_throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
