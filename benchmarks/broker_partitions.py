"""What each topic partition costs the embedded broker when nothing happens (issue 11).

One idle consumer in the landing consumer's configuration (so the configured fetch wait) is
subscribed to the demo's eight topics, created with 4 partitions each (the platform's default)
and then, as fresh topics on the same broker, with 1 (the demo's one DuckDB writer gains nothing
from more; measured and not taken, benchmarks/README.md: it slows tick -> queryable); the cases
alternate for ``--rounds`` rounds. The broker's CPU seconds per case and round, and the ratio of
the 1-partition case to the 4-partition one.

    .venv/bin/python -m benchmarks.broker_partitions [--seconds 60] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import uuid
from datetime import datetime, timezone

from benchmarks.broker_fetch_wait import RESULTS, idle_consumer_cpu
from energy_orchestration import settings
from energy_orchestration.sources import DATASETS
from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.topics import all_topics, ensure_topics

CASES = (4, 1)
"""Partitions per topic; the first is the baseline."""


def idle_cost(broker: EmbeddedBroker, pid: int, partitions: int, seconds: float) -> float:
    """Broker CPU over ``seconds`` while one consumer idles on fresh topics of ``partitions``."""
    prefix = f"parts{partitions}-{uuid.uuid4().hex[:6]}"
    topics = [f"{prefix}.{topic}" for topic in all_topics(list(DATASETS))]
    ensure_topics(broker.bootstrap_servers, topics, partitions=partitions)
    return idle_consumer_cpu(broker, pid, topics, prefix, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {f"{p} partition(s) per topic": [] for p in CASES}
    with EmbeddedBroker() as broker:
        pid = broker._process.pid  # noqa: SLF001 - the benchmark measures the broker process itself
        for round_ in range(args.rounds):
            for partitions in CASES:
                cpu = idle_cost(broker, pid, partitions, args.seconds)
                runs[f"{partitions} partition(s) per topic"].append(cpu)
                print(f"  round {round_ + 1}, {partitions} partition(s): broker {cpu} CPU-s per "
                      f"{args.seconds:.0f} s", flush=True)
    median = {name: round(statistics.median(cpus), 2) for name, cpus in runs.items()}
    base = next(iter(median.values()))
    result = {"benchmark": "broker_partitions", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "seconds": args.seconds, "topics": len(all_topics(list(DATASETS))),
              "fetch_wait_ms": settings.get_int("ENERGY_CONSUMER_FETCH_WAIT_MS"),
              "idle_broker_cpu_seconds": runs, "median": median,
              "vs_first_case": {name: round(cpu / base, 2) for name, cpu in median.items() if base}}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "broker_partitions.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
