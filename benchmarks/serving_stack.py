"""A landed warehouse and `energy serve` as its own process, for the serving benchmarks.

The server runs in a separate process so the load generator never shares its GIL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from energy_orchestration.standin import StandinConfig, StandinServer
from energy_orchestration.streaming.broker import EmbeddedBroker, free_port
from energy_orchestration.warehouse import Warehouse
from tests.integration.serving_support import land_sample


@dataclass(frozen=True)
class ServingStack:
    url: str
    ws_url: str
    bootstrap: str
    warehouse: Warehouse


@contextmanager
def serving_stack(folder: Path, hours: int, server_env: dict[str, str] | None = None) -> Iterator[ServingStack]:
    """``server_env``: settings for the `energy serve` process only (e.g. one case of a comparison)."""
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    os.environ["ENERGY_TOPIC_PREFIX"] = prefix  # this process's producers and the server agree on topics
    warehouse = Warehouse(folder / "warehouse.duckdb")
    with EmbeddedBroker() as broker, StandinServer(StandinConfig(rate_limit_per_minute=0)) as standin:
        print(f"landing {hours} h of Denmark and France through the real pipeline ...", flush=True)
        land_sample(standin.url, broker.bootstrap_servers, warehouse, f"{prefix}-landing", hours=hours)
        port = free_port()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
               "ENERGY_WAREHOUSE_PATH": str(warehouse.path), "ENERGY_API_HOST": "127.0.0.1",
               "ENERGY_API_PORT": str(port), "ENERGY_API_WS_QUEUE_SIZE": "10000", **(server_env or {})}
        log = open(folder / "api.log", "wb")
        server = subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "serve"], env=env,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    if requests.get(f"{url}/health", timeout=2).json()["cache_caught_up"]:
                        break
                except requests.RequestException:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"energy serve did not become ready; see {folder / 'api.log'}")
                time.sleep(0.2)
            yield ServingStack(url, f"ws://127.0.0.1:{port}", broker.bootstrap_servers, warehouse)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(30)
            log.close()
