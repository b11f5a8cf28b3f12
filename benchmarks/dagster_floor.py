"""Dagster's own idle floor: the demo's three Dagster processes with nothing of ours to run.

The demo stack's idle CPU (``benchmarks.idle_cpu``) is mostly Dagster's: its daemon, its gRPC
code server and its webserver. To know how much of that our code could still save, the same three
processes run here, started by the demo's own code (``DemoStack.start_dagster``, so the same
instance file and daemon knobs), on definitions of our own making, in two cases:

- ``no definitions``: an empty code location, what Dagster costs before anything is declared;
- ``sensors that skip``: one sensor per sensor of ours, at the same intervals and each taking a
  resource (so Dagster builds an instance per evaluation, as for ours), returning at once.

The difference between our stack's Dagster processes and the second case is what our sensors'
own work costs; the second case alone is the floor that no change inside ``energy_orchestration``
can go below. ``idle_cpu --dagster-floor`` measures both beside the demo in the same window.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from energy_orchestration.demo import DemoStack
from energy_orchestration.streaming.broker import free_port

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
def running_floor(folder: Path, case: str) -> Iterator[FloorStack]:
    """The code server, webserver and daemon of one ``case``, started and stopped by the demo's own
    code (same instance file, workspace file and daemon knobs)."""
    stack = DemoStack(state_dir=folder)
    stack.configure()
    stack.env["BENCH_FLOOR_CASE"] = case
    try:
        stack.start_dagster(free_port(), "benchmarks.dagster_floor")
        yield FloorStack(stack.state_dir)
    finally:
        stack.stop()
