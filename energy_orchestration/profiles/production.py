"""The production profile: the platform as separate long-running services around an external
Kafka cluster and a PostgreSQL-backed Dagster instance.

This module is the one description of that shape. ``energy up --profile production`` runs it
as local processes; ``docker/compose.yaml`` runs the same services in containers, and
``tests/unit/test_compose.py`` checks that the compose file's commands and variables are the ones
listed here, so the two cannot drift.

Services (each its own process):

- ``code``: the gRPC code server (``dagster code-server start``). With Dagster's default run
  launcher, runs are started by the daemon through this server and execute as its
  subprocesses, so this is where the warehouse volume and the provider URLs must be.
- ``webserver``: ``dagster-webserver`` (UI and GraphQL), loading the code location through
  ``workspace.yaml`` (a ``grpc_server`` entry, nothing loaded in-process).
- ``daemon``: ``dagster-daemon run`` (sensors, schedules, run queue, run monitoring, retries).
- ``consumer``: ``energy consume``, the landing consumer.
- ``api``: ``energy serve``, the HTTP API, WebSocket and dashboard.

Kafka is reached only through ``KAFKA_BOOTSTRAP_SERVERS``: nothing here starts a broker, and
``ENERGY_KAFKA_EMBEDDED`` is never set, so every client uses the real-Kafka settings
(:mod:`energy_orchestration.streaming.config`).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from energy_orchestration import settings
from energy_orchestration.demo import (
    DEFINITIONS_MODULE,
    _default_signals,
    http_ok,
    sensor_daemon_healthy,
    wait_ready,
    workspace_yaml,
)
from energy_orchestration.streaming.broker import port_open

PRODUCTION_DAGSTER_YAML = Path(__file__).resolve().parents[1] / "dagster_production.yaml"

KAFKA_ENV = ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_SECURITY_PROTOCOL", "KAFKA_SASL_MECHANISM", "KAFKA_SASL_USERNAME",
             "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CA_LOCATION")
DATA_ENV = ("ENERGY_WAREHOUSE_PATH", "ENERGY_WAREHOUSE_URL", "ENERGY_WAREHOUSE_CATALOG_PASSWORD",
            "ENERGY_WAREHOUSE_DATA_PATH", "ENERGY_EDS_BASE_URL", "ENERGY_ODRE_BASE_URL", "ENERGY_ODRE_API_KEY")
DAGSTER_ENV = ("DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
               "DAGSTER_PG_DB")
API_ENV = ("ENERGY_API_HOST", "ENERGY_API_PORT", "ENERGY_API_TOKENS")
REQUIRED_ENV = ("KAFKA_BOOTSTRAP_SERVERS", "ENERGY_WAREHOUSE_PATH", "ENERGY_EDS_BASE_URL", "ENERGY_ODRE_BASE_URL",
                "DAGSTER_HOME", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD",
                "DAGSTER_PG_DB")
"""No defaults in production: a missing one is an error at start-up, not a silent fallback to
the demo's loopback stand-in or a default password."""


@dataclass(frozen=True)
class Service:
    """One process of the profile. ``command`` may hold ``{bind}``, ``{code_host}``,
    ``{code_port}``, ``{webserver_port}`` and ``{workspace}``; ``env`` is every variable it
    reads (required ones are in :data:`REQUIRED_ENV`)."""

    name: str
    command: tuple[str, ...]
    env: tuple[str, ...]
    stop_signal: int = signal.SIGTERM

    def argv(self, **values: str) -> list[str]:
        return [part.format(**values) for part in self.command]


SERVICES: tuple[Service, ...] = (
    Service("code", ("dagster", "code-server", "start", "-h", "{bind}", "-p", "{code_port}", "-m", DEFINITIONS_MODULE),
            KAFKA_ENV + DATA_ENV + DAGSTER_ENV),
    Service("webserver", ("dagster-webserver", "-h", "{bind}", "-p", "{webserver_port}", "-w", "{workspace}"),
            DAGSTER_ENV),
    Service("daemon", ("dagster-daemon", "run", "-w", "{workspace}"), KAFKA_ENV + DATA_ENV + DAGSTER_ENV),
    Service("consumer", ("energy", "consume"), KAFKA_ENV + DATA_ENV),
    Service("api", ("energy", "serve"), KAFKA_ENV + DATA_ENV + API_ENV),
)
SERVICE_BY_NAME = {s.name: s for s in SERVICES}
STOP_ORDER = ("daemon", "webserver", "code", "api", "consumer")


def missing_env(env: Mapping[str, str]) -> list[str]:
    return [name for name in REQUIRED_ENV if not env.get(name)]


def _executable(name: str) -> str:
    """The console script next to this interpreter (the virtualenv's), else from PATH."""
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


@dataclass
class Proc:
    service: Service
    process: subprocess.Popen[bytes]
    log_path: Path
    log_handle: IO[bytes] = field(repr=False)


class ProductionStack:
    """The five services as local processes, each in its own process group.

    ``env`` must name an external Kafka and a PostgreSQL (:data:`REQUIRED_ENV`); ``home`` holds
    ``DAGSTER_HOME`` (the instance yaml only: every record of the instance is in PostgreSQL),
    ``workspace.yaml`` and the logs."""

    def __init__(self, env: Mapping[str, str], home: Path, code_port: int, webserver_port: int,
                 bind: str = "127.0.0.1") -> None:
        self.home = home.resolve()
        self.logs = self.home / "logs"
        self.code_port, self.webserver_port, self.bind = code_port, webserver_port, bind
        self.env = {**env, "DAGSTER_HOME": str(self.home / "dagster_home"), "PYTHONUNBUFFERED": "1"}
        self.env.pop("ENERGY_KAFKA_EMBEDDED", None)  # a cluster: no embedded-broker workarounds
        self.procs: dict[str, Proc] = {}
        self.startup_seconds: dict[str, float] = {}

    @property
    def workspace(self) -> Path:
        return self.home / "workspace.yaml"

    @property
    def graphql_url(self) -> str:
        return f"http://127.0.0.1:{self.webserver_port}/graphql"

    def configure(self) -> None:
        missing = missing_env(self.env)
        if missing:
            raise RuntimeError(f"the production profile needs {', '.join(missing)} (no defaults in production)")
        dagster_home = Path(self.env["DAGSTER_HOME"])
        dagster_home.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PRODUCTION_DAGSTER_YAML, dagster_home / "dagster.yaml")
        self.workspace.write_text(workspace_yaml("127.0.0.1", self.code_port))

    def spawn(self, name: str) -> Proc:
        service = SERVICE_BY_NAME[name]
        argv = service.argv(bind=self.bind, code_port=str(self.code_port), webserver_port=str(self.webserver_port),
                            workspace=str(self.workspace))
        argv[0] = _executable(argv[0])
        log_path = self.logs / f"{name}.log"
        handle = open(log_path, "ab")
        process = subprocess.Popen(argv, env=self.env, stdout=handle, stderr=subprocess.STDOUT, cwd=self.home,
                                   start_new_session=True, preexec_fn=_default_signals)
        proc = Proc(service, process, log_path, handle)
        self.procs[name] = proc
        return proc

    def readiness(self, name: str) -> Callable[[], bool]:
        """When a service counts as up (what a compose healthcheck asks, locally)."""
        api_port = self.env.get("ENERGY_API_PORT", settings.default("ENERGY_API_PORT"))
        checks: dict[str, Callable[[], bool]] = {
            "code": lambda: port_open(self.code_port),
            "webserver": lambda: http_ok(f"http://127.0.0.1:{self.webserver_port}/server_info"),
            "daemon": lambda: sensor_daemon_healthy(self.webserver_port),
            "consumer": lambda: "reading" in self.procs["consumer"].log_path.read_text(errors="replace"),
            "api": lambda: http_ok(f"http://127.0.0.1:{api_port}/health"),
        }
        return checks[name]

    def wait_ready(self, name: str, timeout: float = 180.0) -> float:
        proc = self.procs[name]
        return wait_ready(name, proc.process, proc.log_path, self.readiness(name), timeout, poll=0.25)

    def start(self) -> None:
        """Code server first (the others load it), then webserver, daemon, consumer, API."""
        self.configure()
        for name in ("code", "webserver", "consumer", "api", "daemon"):
            self.spawn(name)
            if name != "consumer":  # the consumer is awaited below, in parallel with the rest
                self.startup_seconds[name] = self.wait_ready(name)
        self.startup_seconds["consumer"] = self.wait_ready("consumer")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill a service and its whole process group (a code server's gRPC child, run workers)."""
        proc = self.procs.pop(name)
        try:
            os.killpg(proc.process.pid, sig)
            proc.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.process.pid, signal.SIGKILL)
            proc.process.wait()
        except ProcessLookupError:
            pass
        try:
            os.killpg(proc.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.log_handle.close()

    def restart(self, name: str) -> float:
        if name in self.procs:
            self.kill(name)
        self.spawn(name)
        return self.wait_ready(name)

    def stop(self) -> None:
        for name in STOP_ORDER:
            if name in self.procs:
                self.kill(name, self.procs[name].service.stop_signal)

    def dead(self) -> list[str]:
        return [name for name, proc in self.procs.items() if proc.process.poll() is not None]


def run_production(home: Path, code_port: int, webserver_port: int) -> int:
    """``energy up --profile production``: start the services against the configured Kafka and
    PostgreSQL, then restart any that dies (back-off 1 s doubling to 60 s) until Ctrl-C."""

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stack = ProductionStack(os.environ, home, code_port, webserver_port)
    code = 0
    started = time.monotonic()
    try:
        stack.start()
        print(f"[energy up] production profile up in {time.monotonic() - started:.1f}s: Dagster UI "
              f"http://127.0.0.1:{webserver_port}, API {stack.env.get('ENERGY_API_PORT', '8000')}, logs {stack.logs}",
              flush=True)
        backoff: dict[str, float] = {}
        while True:
            for name in stack.dead():
                delay = backoff.get(name, 1.0)
                print(f"[energy up] {name} died (code {stack.procs[name].process.returncode}); restarting in "
                      f"{delay:g}s", flush=True)
                time.sleep(delay)
                backoff[name] = min(delay * 2, 60.0)
                stack.restart(name)
            time.sleep(1)
    except KeyboardInterrupt:
        print("[energy up] stopping", flush=True)
    except RuntimeError as exc:
        print(f"[energy up] error: {exc}", flush=True)
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
    return code
