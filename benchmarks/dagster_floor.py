"""Dagster's own idle floor: the demo's three Dagster processes with nothing of ours to run.

The demo stack's idle CPU (``benchmarks.idle_cpu``) is mostly Dagster's: its daemon, its gRPC
code server and its webserver. To know how much of that our code could still save, the same three
processes run here with the demo's instance file (``energy_orchestration/dagster.yaml``) and
daemon knobs, on definitions of our own making, in two cases:

- ``no definitions``: an empty code location, what Dagster costs before anything is declared;
- ``sensors that skip``: one sensor per sensor of ours, at the same intervals and each taking a
  resource (so Dagster builds an instance per evaluation, as for ours), returning at once.

The difference between our stack's Dagster processes and the second case is what our sensors'
own work costs; the second case alone is the floor that no change inside ``energy_orchestration``
can go below. ``idle_cpu --dagster-floor`` measures both beside the demo in the same window.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from energy_orchestration.demo import (
    CODE_LOCATION,
    DAEMON_LOOP_SECONDS,
    DAGSTER_YAML,
    http_ok,
    sensor_daemon_healthy,
    wait_ready,
    workspace_yaml,
)
from energy_orchestration.streaming.broker import free_port, port_open

CASES = ("no definitions", "sensors that skip")


def our_sensor_intervals() -> dict[str, int]:
    """Name and interval of every sensor the demo's code location declares."""
    from energy_orchestration.definitions import defs as ours

    return {sensor.name: sensor.minimum_interval_seconds for sensor in ours.sensors}


class Nothing(dg.ConfigurableResource):
    """A resource, so that Dagster builds a DagsterInstance for each evaluation as it does for ours."""


def _skipping_sensor(name: str, seconds: int) -> dg.SensorDefinition:
    @dg.sensor(name=name, minimum_interval_seconds=seconds, default_status=dg.DefaultSensorStatus.RUNNING)
    def skip(context: dg.SensorEvaluationContext, nothing: Nothing) -> dg.SkipReason:
        return dg.SkipReason("the floor benchmark's sensors never do anything")

    return skip


def floor_definitions() -> dg.Definitions:
    if os.environ.get("BENCH_FLOOR_CASE") != CASES[1]:
        return dg.Definitions()
    return dg.Definitions(sensors=[_skipping_sensor(name, seconds) for name, seconds in our_sensor_intervals().items()],
                          resources={"nothing": Nothing()})


defs = floor_definitions()


@dataclass(frozen=True)
class FloorStack:
    folder: Path

    @property
    def marker(self) -> str:
        """Appears in the environment of every process of this stack (as for the demo's)."""
        return f"ENERGY_STATE_DIR={self.folder}"


@contextmanager
def running_floor(folder: Path, case: str, ready_timeout: float = 180) -> Iterator[FloorStack]:
    """The code server, webserver and daemon of one ``case``, started as ``energy demo`` starts them."""
    home = folder / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    code_port, web_port = free_port(), free_port()
    workspace = folder / "workspace.yaml"
    workspace.write_text(workspace_yaml("127.0.0.1", code_port))
    env = {**os.environ, **DAEMON_LOOP_SECONDS, "DAGSTER_HOME": str(home), "ENERGY_STATE_DIR": str(folder),
           "BENCH_FLOOR_CASE": case, "PYTHONUNBUFFERED": "1"}
    commands = {
        "code": [sys.executable, "-m", "dagster", "api", "grpc", "-h", "127.0.0.1", "-p", str(code_port),
                 "-m", "benchmarks.dagster_floor", "--location-name", CODE_LOCATION],
        "webserver": [sys.executable, "-m", "dagster_webserver", "-h", "127.0.0.1", "-p", str(web_port),
                      "-w", str(workspace)],
        "daemon": [sys.executable, "-m", "dagster._daemon", "run", "-w", str(workspace)],
    }
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            log = folder / f"{name}.log"
            processes[name] = subprocess.Popen(command, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                                               start_new_session=True)
            if name == "code":
                wait_ready(name, processes[name], log, lambda: port_open(code_port), ready_timeout)
        wait_ready("webserver", processes["webserver"], folder / "webserver.log",
                   lambda: http_ok(f"http://127.0.0.1:{web_port}/server_info"), ready_timeout)
        wait_ready("daemon", processes["daemon"], folder / "daemon.log",
                   lambda: sensor_daemon_healthy(web_port), ready_timeout)
        yield FloorStack(folder)
    finally:
        for process in reversed(processes.values()):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
