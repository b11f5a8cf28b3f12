"""Start-up time of the production profile: PostgreSQL (initdb + start, as in the e2e test),
then the five services (code server, webserver, daemon with its sensor daemon healthy,
consumer, API) against an external Kafka (the embedded broker started separately), until each
answers its readiness check; then a daemon + code-server restart. Repeated ``--rounds`` times.

    .venv/bin/python -m benchmarks.production_startup [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from energy_orchestration.profiles.postgres import LocalPostgres
from energy_orchestration.profiles.production import ProductionStack
from energy_orchestration.streaming.broker import EmbeddedBroker, free_port

RESULTS = Path(__file__).parent / "results" / "production_startup.json"


def one_round(folder: Path) -> dict[str, float]:
    began = time.monotonic()
    with LocalPostgres() as pg, EmbeddedBroker() as broker:
        postgres = time.monotonic() - began
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGY_", "KAFKA_", "DAGSTER_"))}
        env.update({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                    "ENERGY_WAREHOUSE_PATH": str(folder / "warehouse.duckdb"),
                    "ENERGY_EDS_BASE_URL": "http://127.0.0.1:9", "ENERGY_ODRE_BASE_URL": "http://127.0.0.1:9",
                    "ENERGY_API_HOST": "127.0.0.1", "ENERGY_API_PORT": str(free_port()), **pg.connection_env()})
        stack = ProductionStack(env, folder / "production", free_port(), free_port())
        try:
            started = time.monotonic()
            stack.start()
            services = time.monotonic() - started
            restarted = time.monotonic()
            stack.kill("daemon")
            stack.kill("code")
            stack.restart("code")
            stack.restart("daemon")
            restart = time.monotonic() - restarted
        finally:
            stack.stop()
    return {"postgres_s": postgres, "services_s": services, "restart_daemon_and_code_s": restart,
            **{f"{name}_ready_s": seconds for name, seconds in stack.startup_seconds.items() if name != "consumer"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rounds = []
    for n in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            rounds.append(one_round(Path(folder)))
        print(f"round {n + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in rounds[-1].items()), flush=True)
    summary = {k: round(statistics.median(r[k] for r in rounds), 2) for k in rounds[0]}
    print("median: " + json.dumps(summary))
    RESULTS.write_text(json.dumps({"rounds": rounds, "median": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
