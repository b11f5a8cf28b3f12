"""What Dagster's two idle loops that `energy_orchestration.dagster_loops` slows cost per round.

Against a real code server of our definitions (``dagster api grpc``, as the demo runs it):

- the server-id watch: one ``get_server_id`` call a second, as the webserver's and the daemon's
  watch threads make, for ``--seconds``; CPU of the server and of this client;
- the daemon's workspace refresh: loading the code location again (its whole snapshot over
  gRPC), ``--loads`` times; CPU per load on each side.

From those, what each loop costs a 600 s idle window at Dagster's intervals (1 s watch in two
processes, 60 s refresh) and at the demo's (10 s, 180 s). The stack-level effect is measured by
``idle_cpu --baseline-code`` (benchmarks/README.md, issue 11, fifth pass).

    .venv/bin/python -m benchmarks.dagster_loops [--seconds 60] [--loads 10]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.remote_origin import GrpcServerCodeLocationOrigin
from dagster._grpc.client import DagsterGrpcClient

from benchmarks.broker_fetch_wait import process_cpu_seconds
from energy_orchestration.dagster_loops import SLOWED_LOOPS
from energy_orchestration.demo import CODE_LOCATION, DEFINITIONS_MODULE
from energy_orchestration.streaming.broker import free_port

RESULTS = Path(__file__).with_name("results")
WINDOW = 600
WATCHERS = 2
"""The webserver and the daemon each run one watch thread."""
DAGSTER_DEFAULTS = {constant: getattr(importlib.import_module(module), constant) for module, constant in SLOWED_LOOPS}
"""Dagster's own intervals, read from it (this process never slows them)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--loads", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    os.environ.setdefault("DAGSTER_HOME", tempfile.mkdtemp(prefix="dagster-loops-"))
    server = subprocess.Popen([sys.executable, "-m", "dagster", "api", "grpc", "-h", "127.0.0.1", "-p", str(port),
                               "-m", DEFINITIONS_MODULE, "--location-name", CODE_LOCATION],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = DagsterGrpcClient(port=port, host="127.0.0.1")
        deadline = time.monotonic() + 180
        while True:
            try:
                client.ping("ready?")
                break
            except Exception:  # noqa: BLE001 - not listening yet
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the code server did not start") from None
                time.sleep(0.5)
        time.sleep(10)  # let its start-up settle
        server_start, client_start = process_cpu_seconds(server.pid), time.process_time()
        for _ in range(args.seconds):
            client.get_server_id()
            time.sleep(1)
        watch = {"server": (process_cpu_seconds(server.pid) - server_start) / args.seconds,
                 "client": (time.process_time() - client_start) / args.seconds}
        origin = GrpcServerCodeLocationOrigin(host="127.0.0.1", port=port, location_name=CODE_LOCATION)
        with DagsterInstance.ephemeral() as instance:
            origin.create_location(instance).cleanup()  # the first load warms caches on both sides
            server_start, client_start = process_cpu_seconds(server.pid), time.process_time()
            for _ in range(args.loads):
                origin.create_location(instance).cleanup()
            refresh = {"server": (process_cpu_seconds(server.pid) - server_start) / args.loads,
                       "client": (time.process_time() - client_start) / args.loads}
    finally:
        server.terminate()
        server.wait(30)
    demo = {constant: seconds for (_, constant), (_, seconds) in SLOWED_LOOPS.items()}

    def per_window(intervals: dict[str, int]) -> dict[str, float]:
        watch_calls = WATCHERS * WINDOW / intervals["WATCH_INTERVAL"]
        refreshes = WINDOW / intervals["RELOAD_WORKSPACE_INTERVAL"]
        return {"watch_cpu_seconds": round(watch_calls * sum(watch.values()), 2),
                "refresh_cpu_seconds": round(refreshes * sum(refresh.values()), 2)}

    result = {"benchmark": "dagster_loops", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "cpu_seconds_per_get_server_id": {k: round(v, 4) for k, v in watch.items()},
              "cpu_seconds_per_workspace_refresh": {k: round(v, 3) for k, v in refresh.items()},
              f"per_{WINDOW}s_at_dagster_intervals": per_window(DAGSTER_DEFAULTS),
              f"per_{WINDOW}s_at_demo_intervals": per_window(demo), "demo_intervals": demo}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dagster_loops.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
