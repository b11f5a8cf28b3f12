"""The real demo stack for benchmarks: `energy demo` as processes on free ports, stopped with SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from energy_orchestration.streaming.broker import free_port


@dataclass(frozen=True)
class DemoStack:
    folder: Path
    dagster_port: int

    @property
    def marker(self) -> str:
        """Appears in the environment of every process of this stack."""
        return f"ENERGY_STATE_DIR={self.folder}"


@contextmanager
def running_demo(folder: Path, ready_timeout: float = 240, code: Path | None = None,
                 settings: dict[str, str] | None = None) -> Iterator[DemoStack]:
    """``code``: another checkout of the project (e.g. ``git worktree add /tmp/base <commit>``)
    whose ``energy_orchestration`` the stack runs instead of this one, for a baseline measured in
    the same run; it goes first on every process's PYTHONPATH. ``settings``: environment
    variables this stack runs with, for a case compared with another stack in the same window."""
    port = free_port()
    env = {**os.environ, **(settings or {}), "ENERGY_STATE_DIR": str(folder), "ENERGY_DAGSTER_PORT": str(port),
           "ENERGY_BROKER_PORT": str(free_port()), "ENERGY_STANDIN_PORT": str(free_port()),
           "ENERGY_API_PORT": str(free_port())}
    if code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(code.resolve()), *filter(None, [env.get("PYTHONPATH")])])
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "ENERGY_EDS_BASE_URL", "ENERGY_ODRE_BASE_URL", "ENERGY_WAREHOUSE_PATH"):
        env.pop(name, None)
    folder.mkdir(parents=True, exist_ok=True)
    output = folder / "demo.out"
    # `python -m` puts the working directory first on sys.path, before PYTHONPATH: run in `code`
    demo = subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "demo"], env=env, cwd=code,
                            stdout=open(output, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + ready_timeout
        while b"Ctrl-C stops everything" not in output.read_bytes():
            if demo.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"demo did not start; see {output}")
            time.sleep(1)
        yield DemoStack(folder, port)
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(90)
