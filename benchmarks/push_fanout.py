"""Live push fan-out: 100 WebSocket clients, delivery latency from produce to receive.

Each PowerSystemRightNow record is timestamped just before it is handed to the producer; every
client records when the message for that record's DK-DK1 values arrives. The path measured is
the whole live path: producer -> broker -> the API's cache feeder (normalise + rules) -> hub ->
100 per-client queues -> WebSocket frames.

Run once per feeder fetch wait (``ENERGY_API_FEEDER_FETCH_WAIT_MS`` of the server process), each
on its own fresh stack, so the cases compare within one run; the first is the baseline.

    .venv/bin/python -m benchmarks.push_fanout [--clients 100] [--records 60] [--interval 0.5]
        [--feeder-fetch-waits 1000,2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from confluent_kafka import Producer
from websockets.asyncio.client import connect

from benchmarks.api_latency import percentiles
from benchmarks.serving_stack import serving_stack
from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.standin.synthetic_dk import power_system_right_now_record
from energy_orchestration.streaming.config import producer_config
from energy_orchestration.streaming.envelope import encode
from energy_orchestration.streaming.topics import raw_topic
from tests.integration.serving_support import newest_interval

RESULTS = Path(__file__).with_name("results")


async def client(url: str, expected: int, sent: dict[str, float], latencies: list[float], ready: asyncio.Event,
                 connected: list[int], total: int) -> None:
    async with connect(url, max_queue=None) as socket:
        json.loads(await socket.recv())  # the snapshot
        connected[0] += 1
        if connected[0] == total:
            ready.set()
        received = 0
        while received < expected:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=60))
            now = time.time()
            stamp = message["interval_start_utc"]
            if message["zone"] == "DK-DK1" and stamp in sent:
                latencies.append((now - sent[stamp]) * 1000)
                received += 1


def producer(bootstrap: str, first: datetime, records: int, interval: float, sent: dict[str, float]) -> None:
    """One long-lived producer (``publish_records`` makes one per call, ~0.5 s of set-up that
    is not part of the live path); the clock starts just before ``produce``."""
    producer = Producer({**producer_config(bootstrap), "linger.ms": 0})
    topic = raw_topic("PowerSystemRightNow")
    for i in range(records):
        minute = first + timedelta(minutes=i)
        record = power_system_right_now_record(minute)
        payload = encode("energidataservice", "PowerSystemRightNow", record, datetime.now(timezone.utc))
        sent[minute.strftime("%Y-%m-%dT%H:%M:%SZ")] = time.time()
        producer.produce(topic, key=POWER_SYSTEM_RIGHT_NOW.message_zone(record).encode(), value=payload)
        producer.poll(0)
        time.sleep(interval)
    assert producer.flush(30) == 0


async def run(stack, clients: int, records: int, interval: float) -> tuple[list[float], float]:
    sent: dict[str, float] = {}
    latencies: list[float] = []
    ready = asyncio.Event()
    connected = [0]
    url = f"{stack.ws_url}/api/v1/live?zone=DK-DK1"
    tasks = [asyncio.create_task(client(url, records, sent, latencies, ready, connected, clients))
             for _ in range(clients)]
    await asyncio.wait_for(ready.wait(), 60)
    # Records before the history window: new to every client, never "future" for the parser.
    first = (newest_interval(stack.warehouse, "PowerSystemRightNow") - timedelta(days=3)).replace(tzinfo=None)
    began = time.perf_counter()
    thread = threading.Thread(target=producer, args=(stack.bootstrap, first, records, interval, sent))
    thread.start()
    await asyncio.gather(*tasks)
    thread.join()
    return latencies, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--records", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between produced records")
    parser.add_argument("--feeder-fetch-waits", default="1000,2000",
                        help="comma-separated ENERGY_API_FEEDER_FETCH_WAIT_MS values; the first is the baseline")
    args = parser.parse_args()
    cases = {}
    for wait in [int(w) for w in args.feeder_fetch_waits.split(",")]:
        with tempfile.TemporaryDirectory() as folder, \
                serving_stack(Path(folder), 1, {"ENERGY_API_FEEDER_FETCH_WAIT_MS": str(wait)}) as stack:
            print(f"feeder fetch wait {wait} ms: {args.clients} clients, {args.records} records every "
                  f"{args.interval:g} s ...", flush=True)
            latencies, seconds = asyncio.run(run(stack, args.clients, args.records, args.interval))
        delivery = percentiles(latencies)
        assert delivery["n"] == args.clients * args.records, "some deliveries are missing"
        cases[f"feeder fetch wait {wait} ms"] = {"deliveries": delivery["n"], "seconds": round(seconds, 1),
                                                 "delivery_latency": delivery}
    baseline = next(iter(cases.values()))["delivery_latency"]
    result = {"benchmark": "push_fanout", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "clients": args.clients, "records": args.records, "interval_s": args.interval, "cases": cases,
              "p99_vs_first_case": {name: round(case["delivery_latency"]["p99_ms"] / baseline["p99_ms"], 2)
                                    for name, case in cases.items()}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "push_fanout.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
