"""A code location whose one sensor says which code-server process evaluated it
(test_demo_supervision.py restarts that process under `energy demo`'s Dagster)."""

import os

import dagster as dg


@dg.sensor(minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def which_server(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    return dg.SkipReason(f"evaluated by pid {os.getpid()}")


defs = dg.Definitions(sensors=[which_server])
