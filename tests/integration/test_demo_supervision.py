"""`energy demo` keeps going when a part dies: the real embedded broker is killed (twice) and
the demo restarts it with a growing back-off, leaving the other parts running; a killed code
server is restarted and Dagster's webserver and daemon (started through dagster_loops, with the
slowed server-id watch) use the new one."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from energy_orchestration.demo import DemoStack
from energy_orchestration.streaming.broker import broker_command, free_port, port_open

pytestmark = pytest.mark.integration


def test_the_demo_restarts_a_dead_broker_with_back_off_and_keeps_the_rest(tmp_path, monkeypatch, capsys):
    port = free_port()
    monkeypatch.setenv("ENERGY_BROKER_PORT", str(port))
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    stack = DemoStack(state_dir=tmp_path)
    stack.configure()
    assert stack.env["ENERGY_KAFKA_EMBEDDED"] == "1"
    url = f"tcp://127.0.0.1:{port}"
    broker = stack._spawn("broker", broker_command(url), stop_signal=signal.SIGINT)
    stack._wait_ready(broker, lambda: port_open(port), 30)
    other = stack._spawn("consumer", [sys.executable, "-c", "import time; time.sleep(600)"])
    done = threading.Event()
    watcher = threading.Thread(target=stack.watch, kwargs={"backoff_start": 0.5, "until": done}, daemon=True)
    watcher.start()
    try:
        pids = [broker.process.pid]
        for _ in range(2):
            os.killpg(pids[-1], signal.SIGKILL)
            deadline = time.monotonic() + 30
            while True:
                current = next(c for c in stack.children if c.name == "broker").process
                if current.pid != pids[-1] and current.poll() is None and port_open(port):
                    pids.append(current.pid)
                    break
                assert time.monotonic() < deadline, "the broker was not restarted"
                time.sleep(0.1)
        assert other.process.poll() is None and other in stack.children  # untouched
        said = capsys.readouterr().out
        assert "broker exited with code -9; restarting it in 0.5s" in said
        assert "broker exited with code -9; restarting it in 1s" in said  # back-off doubled
    finally:
        done.set()
        watcher.join(5)
        stack.stop(grace_seconds=5)


TICKS = """{ sensorOrError(sensorSelector: {repositoryLocationName: "energy_orchestration",
  repositoryName: "__repository__", sensorName: "which_server"}) {
  ... on Sensor { sensorState { ticks(limit: 5) { timestamp skipReason } } } } }"""
LOCATION = """{ workspaceOrError { ... on Workspace { locationEntries {
  name updatedTimestamp locationOrLoadError { __typename } } } } }"""


def graphql(port: int, query: str) -> dict:
    return requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10).json()["data"]


def test_a_killed_code_server_is_restarted_and_the_webserver_and_daemon_use_the_new_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_DAGSTER_CODE_PORT", "0")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(Path(__file__).parents[2]),
                                                                   os.environ.get("PYTHONPATH")])))
    stack = DemoStack(state_dir=tmp_path)
    stack.configure()
    port = free_port()
    done = threading.Event()
    watcher = threading.Thread(target=stack.watch, kwargs={"backoff_start": 0.5, "until": done}, daemon=True)
    try:
        stack.start_dagster(port, "tests.integration.restart_definitions")
        watcher.start()
        code = next(c for c in stack.children if c.name == "code").process
        old = f"evaluated by pid {code.pid}"
        deadline = time.monotonic() + 120
        while not any(t["skipReason"] == old for t in graphql(port, TICKS)["sensorOrError"]["sensorState"]["ticks"]):
            assert time.monotonic() < deadline, "the daemon never evaluated the sensor"
            time.sleep(1)
        killed_at = time.time()
        os.killpg(code.pid, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while True:  # the supervisor restarts it; the daemon's next evaluations reach the new process
            new = next(c for c in stack.children if c.name == "code").process
            ticks = graphql(port, TICKS)["sensorOrError"]["sensorState"]["ticks"]
            if new.pid != code.pid and any(t["skipReason"] == f"evaluated by pid {new.pid}" for t in ticks):
                break
            assert time.monotonic() < deadline, f"no evaluation by a restarted code server; ticks: {ticks}"
            time.sleep(1)
        deadline = time.monotonic() + 60  # the webserver's watch saw the new server id and reloaded
        while True:
            entry = graphql(port, LOCATION)["workspaceOrError"]["locationEntries"][0]
            if entry["updatedTimestamp"] > killed_at and entry["locationOrLoadError"]["__typename"] == \
                    "RepositoryLocation":
                break
            assert time.monotonic() < deadline, f"the webserver did not reload the location: {entry}"
            time.sleep(1)
    finally:
        done.set()
        watcher.join(5)
        stack.stop(grace_seconds=5)
