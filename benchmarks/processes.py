"""The platform's services as their own processes, for benchmarks that measure the shape it runs in.

In the demo and in production the stand-in (or the real API), the landing consumer and whatever
fetches (a sensor tick, a backfill run) are separate processes, each with its own interpreter
lock. A benchmark that runs them as threads of one interpreter measures their contention for
that lock, not the pipeline: on 2 cores it leaves one core mostly idle.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from energy_orchestration.streaming.broker import free_port
from energy_orchestration.warehouse import Warehouse

ENERGY = [sys.executable, "-m", "energy_orchestration.cli"]


@contextmanager
def standin_process(logs: Path, ready_timeout: float = 60) -> Iterator[str]:
    """`energy standin` with the in-process benchmarks' settings (no rate limit, no deliberately
    bad rows, no corrections, éCO2mix consolidated after 30 days); yields its base URL."""
    port = free_port()
    process = subprocess.Popen([*ENERGY, "standin", "--port", str(port), "--rate-limit", "0",
                                "--bad-record-rate", "0", "--correction-rate", "0", "--consolidation-hours", "0"],
                               stdout=open(logs / "standin.log", "wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the stand-in did not start; see {logs / 'standin.log'}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def start_consumers(bootstrap: str, settings_env: dict[str, str], count: int, group: str,
                    logs: Path) -> list[subprocess.Popen]:
    """``count`` `energy consume` processes in ``group``; ``settings_env`` names their warehouse
    (``ENERGY_WAREHOUSE_PATH`` / ``ENERGY_WAREHOUSE_URL``). Stop them with :func:`stop_processes`."""
    env = {**os.environ, **settings_env, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "ENERGY_CONSUMER_GROUP": group}
    return [subprocess.Popen([*ENERGY, "consume"], env=env, stdout=open(logs / f"consume-{group}-{n}.log", "wb"),
                             stderr=subprocess.STDOUT) for n in range(count)]


def stop_processes(processes: list[subprocess.Popen]) -> list[float | None]:
    """SIGTERM each (a consumer finishes its batch first), reap it, and return the user + system
    CPU seconds each used from start to exit (``os.wait4``); None for one that had already exited
    and been reaped, whose usage is gone."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    cpu = []
    for process in processes:
        if process.returncode is not None:  # already reaped by poll()
            cpu.append(None)
            continue
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        cpu.append(usage.ru_utime + usage.ru_stime)
    return cpu


def landed_messages(warehouse: Warehouse) -> int:
    """Messages the landing consumers say they landed (the ingest log), counted from outside them:
    each call takes the file's shared lock briefly, so poll it no more than every half second."""
    with warehouse.connect(read_only=True) as db:
        return int(db.execute("SELECT coalesce(sum(messages), 0) FROM ingest_log").fetchall()[0][0])
