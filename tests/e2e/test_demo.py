"""`energy demo` as a user runs it: processes, ports, the Dagster GraphQL API, the HTTP API, Ctrl-C."""

import json
import os
import time
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from energy_orchestration.warehouse import Warehouse
from tests.e2e.demo_process import graphql, running_demo, wait_for

pytestmark = pytest.mark.e2e

FETCH_CURSOR = """
query { sensorOrError(sensorSelector: {repositoryName: "__repository__", sensorName: "fetch_sensor",
                                       repositoryLocationName: "energy_orchestration"}) {
  ... on Sensor { sensorState { typeSpecificData { ... on SensorData { lastCursor } } } } } }
"""
SENSOR_QUERY = """
query { sensorsOrError(repositorySelector: {repositoryName: "__repository__",
                                            repositoryLocationName: "energy_orchestration"}) {
  ... on Sensors { results { name sensorState { status ticks(limit: 5) { status } } } } } }
"""


def processes_with(marker: str) -> list[int]:
    """PIDs whose environment mentions ``marker`` (our unique state folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_demo_runs_the_pipeline_and_stops_cleanly(tmp_path):
    with running_demo(tmp_path, ENERGY_FETCH_INITIAL_LOOKBACK_MINUTES="5") as demo_run:
        demo, state = demo_run.process, demo_run.state
        dagster_port, api_port = demo_run.dagster_port, demo_run.api_port
        def acked() -> dict:
            state = (graphql(dagster_port, FETCH_CURSOR)["sensorOrError"] or {}).get("sensorState") or {}
            return json.loads((state.get("typeSpecificData") or {}).get("lastCursor") or "{}").get("acked", {})

        # the live fetch runs inside the sensor's tick: its cursor moves, no fetch run is launched
        assert "PowerSystemRightNow" in wait_for("a fetching sensor tick", acked, 180, demo)

        warehouse = Warehouse(state / "warehouse.duckdb")

        def landed():
            with warehouse.connect(read_only=True) as db:
                return dict(db.execute("""SELECT zone, count(DISTINCT interval_start_utc) FROM observations
                                          WHERE zone IN ('DK-DK1', 'DK-DK2') GROUP BY zone""").fetchall())

        per_zone = wait_for("rows in DuckDB", lambda: (lambda z: z if len(z) == 2 else None)(landed()), 120, demo)
        assert min(per_zone.values()) >= 5
        # the API serves what arrived, live from Kafka, and the banner says where the dashboard is
        assert f"Dashboard         http://127.0.0.1:{api_port}/" in (tmp_path / "demo.out").read_text()
        latest = wait_for("latest DK-DK1 values over HTTP", lambda: requests.get(
            f"http://127.0.0.1:{api_port}/api/v1/zones/DK-DK1/latest", timeout=10).json()["values"], 60, demo)
        assert {"exchange_de", "balancing_imbalance"} <= {v["quantity"] for v in latest}
        with connect(f"ws://127.0.0.1:{api_port}/api/v1/live?zone=DK-DK1") as socket:
            snapshot = json.loads(socket.recv(timeout=20))
        assert snapshot["type"] == "snapshot" and {m["zone"] for m in snapshot["messages"]} == {"DK-DK1"}
        sensors = graphql(dagster_port, SENSOR_QUERY)["sensorsOrError"]["results"]
        fetch = next(s for s in sensors if s["name"] == "fetch_sensor")
        assert fetch["sensorState"]["status"] == "RUNNING" and fetch["sensorState"]["ticks"]
    log = demo_run.log()
    assert demo_run.exit_code == 0, log
    assert "stopped; nothing left running" in log
    time.sleep(1)
    assert processes_with(str(state)) == [], "processes left behind after Ctrl-C"
