"""`energy demo` as a child process for the end-to-end tests: free ports, own state folder,
started like a user starts it and stopped like Ctrl-C stops it."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from energy_orchestration.streaming.broker import free_port


@dataclass
class Demo:
    process: subprocess.Popen
    state: Path
    output: Path
    dagster_port: int
    api_port: int
    exit_code: int | None = None

    def log(self) -> str:
        return self.output.read_text(errors="replace")


def graphql(port: int, query: str) -> dict:
    answer = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=10)
    answer.raise_for_status()
    return answer.json()["data"]


def wait_for(what: str, condition, timeout: float, process: subprocess.Popen):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"demo exited early while waiting for {what}"
        value = condition()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


@contextmanager
def running_demo(tmp_path: Path, **extra_env: str) -> Iterator[Demo]:
    """Start the demo, wait for its banner, and stop it with SIGINT to its process group on exit
    (``exit_code`` is set afterwards)."""
    demo = Demo(process=None, state=tmp_path / "state", output=tmp_path / "demo.out",  # type: ignore[arg-type]
                dagster_port=free_port(), api_port=free_port())
    env = {**os.environ, "ENERGY_STATE_DIR": str(demo.state), "ENERGY_BROKER_PORT": str(free_port()),
           "ENERGY_STANDIN_PORT": str(free_port()), "ENERGY_DAGSTER_PORT": str(demo.dagster_port),
           "ENERGY_API_PORT": str(demo.api_port), "ENERGY_API_HOST": "127.0.0.1", **extra_env}
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "ENERGY_EDS_BASE_URL", "ENERGY_ODRE_BASE_URL", "ENERGY_WAREHOUSE_PATH",
                 "DAGSTER_HOME"):
        env.pop(name, None)
    with open(demo.output, "wb") as output:
        demo.process = subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "demo"], env=env,
                                        stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for("the banner", lambda: "Ctrl-C stops everything" in demo.log(), 240, demo.process)
            yield demo
        finally:
            os.killpg(demo.process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
            try:
                demo.exit_code = demo.process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(demo.process.pid, signal.SIGKILL)
                raise
