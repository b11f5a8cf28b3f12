"""What a consumer's fetch wait costs the embedded broker when nothing happens, and what it adds to
delivery when something does (issue 11: the broker's share of the idle stack).

1. idle: the broker's CPU seconds over ``--seconds`` with no client, then with one idle consumer
   (the landing consumer's configuration, subscribed to every topic the demo creates) per case
   of heartbeat interval and ``fetch.wait.max.ms``; the ratio against the 500 ms case;
2. delivery: produce one message at a time at uneven moments while a consumer with that fetch
   wait holds a fetch, and time produce -> consumed (the broker answers a held fetch when data
   arrives, not only when the wait ends).

    .venv/bin/python -m benchmarks.broker_fetch_wait [--seconds 60] [--messages 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from confluent_kafka import Consumer, Producer

from energy_orchestration.sources import DATASETS
from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.config import client_config, consumer_config
from energy_orchestration.streaming.topics import all_topics, ensure_topics

RESULTS = Path(__file__).with_name("results")
IDLE_CASES = [(500, 500), (2000, 500), (500, 1000), (2000, 1000), (500, 2000)]
"""(heartbeat.interval.ms, fetch.wait.max.ms)"""


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def broker_cpu(pid: int, seconds: float) -> float:
    before = process_cpu_seconds(pid)
    time.sleep(seconds)
    return round(process_cpu_seconds(pid) - before, 2)


def idle_consumer_cpu(broker: EmbeddedBroker, pid: int, topics: list[str], group: str, seconds: float,
                      overrides: dict[str, int] | None = None) -> float:
    """Broker CPU over ``seconds`` while one consumer (the landing consumer's configuration, with
    ``overrides``) idles on ``topics``, measured once it has joined its group and fetches."""
    stop = threading.Event()

    def idle_consumer() -> None:
        consumer = Consumer({**consumer_config(broker.bootstrap_servers, group), **(overrides or {})})
        consumer.subscribe(topics)
        while not stop.is_set():
            consumer.consume(1000, 1.0)
        consumer.close()

    thread = threading.Thread(target=idle_consumer)
    thread.start()
    try:
        time.sleep(10)  # joined the group, fetching
        return broker_cpu(pid, seconds)
    finally:
        stop.set()
        thread.join()


def idle_cost(broker: EmbeddedBroker, pid: int, topics: list[str], seconds: float) -> dict:
    results = {"no client": broker_cpu(pid, seconds)}
    for heartbeat, wait in IDLE_CASES:
        name = f"heartbeat {heartbeat} ms, fetch wait {wait} ms"
        results[name] = idle_consumer_cpu(broker, pid, topics, f"idle-{heartbeat}-{wait}", seconds,
                                          {"heartbeat.interval.ms": heartbeat, "fetch.wait.max.ms": wait})
        print(f"  {name}: broker {results[name]} CPU-s per {seconds:.0f} s", flush=True)
    return results


def delivery(broker: EmbeddedBroker, wait: int, messages: int) -> dict:
    topic = f"delivery-{wait}"
    ensure_topics(broker.bootstrap_servers, [topic])
    consumer = Consumer({**consumer_config(broker.bootstrap_servers, f"delivery-{wait}"), "fetch.wait.max.ms": wait})
    consumer.subscribe([topic])
    producer = Producer(client_config(broker.bootstrap_servers))
    consumer.consume(1, 8.0)  # join the group
    seconds = []
    for n in range(messages):
        time.sleep(1.0 + 0.37 * n)  # uneven moments within the held fetches
        sent = time.perf_counter()
        producer.produce(topic, b"x" * 100, key=str(n).encode())
        producer.flush()
        while not [m for m in consumer.consume(1, 10.0) if m.error() is None]:
            pass
        seconds.append(time.perf_counter() - sent)
    consumer.close()
    return {"mean_s": round(statistics.mean(seconds), 3), "max_s": round(max(seconds), 3),
            "each_s": [round(s, 3) for s in seconds]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--messages", type=int, default=10)
    args = parser.parse_args()
    with EmbeddedBroker() as broker:
        topics = all_topics(list(DATASETS))
        ensure_topics(broker.bootstrap_servers, topics)
        pid = broker._process.pid  # noqa: SLF001 - the benchmark measures the broker process itself
        print(f"1. idle broker CPU, {len(topics)} topics ...", flush=True)
        idle = idle_cost(broker, pid, topics, args.seconds)
        print("2. produce -> consumed while a fetch is held ...", flush=True)
        deliveries = {}
        for wait in (500, 1000, 2000):
            deliveries[f"fetch wait {wait} ms"] = delivery(broker, wait, args.messages)
            print(f"  {wait} ms: {deliveries[f'fetch wait {wait} ms']}", flush=True)
    base = idle["heartbeat 500 ms, fetch wait 500 ms"]
    result = {"benchmark": "broker_fetch_wait", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "seconds": args.seconds, "topics": len(topics), "idle_broker_cpu_seconds": idle,
              "idle_vs_500_ms": {name: round(cpu / base, 2) for name, cpu in idle.items() if base},
              "delivery": deliveries}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "broker_fetch_wait.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
