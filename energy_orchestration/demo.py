"""`energy demo`: the whole pipeline on one laptop, started and stopped as one thing.

Every part runs as its own process (as in production) in its own process group, so Ctrl-C
here stops them in order — Dagster first, then the API, the consumer (it finishes its batch), the
stand-in, the broker last — and anything still alive after a grace period is killed with its
whole group. Nothing is left behind.

Dagster runs as three supervised processes rather than ``dagster dev``: the gRPC code server
(``dagster api grpc``), the webserver and the daemon, the last two reaching the code location
through a ``grpc_server`` workspace file. ``dagster dev`` puts a proxy (``dagster code-server``)
between them and the code server, which costs about 1.4 % of a core at idle in its own gRPC
threads (benchmarks/README.md, idle CPU) and brings nothing the demo needs: the supervisor
below restarts any of the three that dies, and a restarted code server is picked up by the
webserver and daemon (they watch its server id). The price: the UI's "Reload" reconnects but
does not re-import changed code; restart ``energy demo`` for that. The webserver and daemon start
through ``energy_orchestration.dagster_loops``, which slows two of Dagster's idle loops (the
server-id watch and the daemon's workspace refresh) that have no setting.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable

import requests

from energy_orchestration import settings
from energy_orchestration.sources.energidataservice import LIVE_BASE_URL as EDS_LIVE_URL
from energy_orchestration.sources.odre import LIVE_BASE_URL as ODRE_LIVE_URL
from energy_orchestration.streaming.broker import broker_command, free_port, port_open

DAGSTER_YAML = Path(__file__).with_name("dagster.yaml")
CODE_LOCATION = "energy_orchestration"
DEFINITIONS_MODULE = "energy_orchestration.definitions"


@dataclass
class Child:
    name: str
    command: list[str]
    stop_signal: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    log_handle: IO[bytes] | None = field(default=None, repr=False)


def say(message: str) -> None:
    print(f"[energy demo] {message}", flush=True)


def http_ok(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


def wait_ready(name: str, process: subprocess.Popen[bytes], log_path: Path, ready: Callable[[], bool],
               timeout: float, poll: float = 0.2) -> float:
    """Seconds until ``ready()`` held. A child that exits first, or is not ready within
    ``timeout``, is a RuntimeError naming its log (with its last lines when it exited), so a
    failed start says why instead of hanging. Used by the demo and the production profile."""
    started = time.monotonic()
    while not ready():
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with code {process.returncode}; "
                               f"last lines of {log_path}:\n{_tail(log_path)}")
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{name} not ready after {timeout:g}s; see {log_path}")
        time.sleep(poll)
    return time.monotonic() - started


DAEMON_LOOP_SECONDS = {
    # Dagster's own knobs (not ours, so not in settings.py), read by the daemon at start; each
    # loop costs the idle stack CPU (benchmarks/README.md, issue 11). Loops without an environment
    # variable are slowed by energy_orchestration/dagster_loops.py instead.
    # The loop that retries crashed runs reads the event log every 30 s instead of 5 s. A crash
    # is only known once run monitoring (every 60 s) marks the run failed, so the retry comes at
    # most 25 s later than before.
    "DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS": "30",
}


class DemoStack:
    def __init__(self, source: str = "standin", state_dir: Path | None = None) -> None:
        self.source = source
        self.state_dir = (state_dir or settings.state_dir()).resolve()
        self.logs = self.state_dir / "logs"
        self.children: list[Child] = []
        self.env = dict(os.environ)

    def configure(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        dagster_home = self.state_dir / "dagster"
        dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DAGSTER_YAML, dagster_home / "dagster.yaml")
        self.code_port = settings.get_int("ENERGY_DAGSTER_CODE_PORT") or free_port()
        self.workspace = self.state_dir / "workspace.yaml"
        self.workspace.write_text(workspace_yaml("127.0.0.1", self.code_port))
        self.env.update({
            "ENERGY_STATE_DIR": str(self.state_dir),
            "ENERGY_WAREHOUSE_PATH": str(settings.warehouse_path() if settings.get("ENERGY_WAREHOUSE_PATH")
                                         else self.state_dir / "warehouse.duckdb"),
            "DAGSTER_HOME": str(dagster_home),
            "PYTHONUNBUFFERED": "1",
        })
        for name, seconds in DAEMON_LOOP_SECONDS.items():
            self.env.setdefault(name, seconds)
        if not settings.get("KAFKA_BOOTSTRAP_SERVERS"):
            self.env["KAFKA_BOOTSTRAP_SERVERS"] = f"127.0.0.1:{settings.get_int('ENERGY_BROKER_PORT')}"
            self.env["ENERGY_KAFKA_EMBEDDED"] = "1"  # its workarounds, and only for it (streaming/config.py)
            self.embedded_broker = True
        else:
            self.env.pop("ENERGY_KAFKA_EMBEDDED", None)
            self.embedded_broker = False
        # The demo owns its warehouse: create (and migrate) it now, so the readers started next
        # (API, Dagster sensors and checks) find it; readers never create one themselves.
        from energy_orchestration.warehouse import configured_warehouse

        with configured_warehouse(Path(self.env["ENERGY_WAREHOUSE_PATH"]),
                                  settings.get_float("ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS")).connect():
            pass
        standin = f"http://127.0.0.1:{settings.get_int('ENERGY_STANDIN_PORT')}"
        live = {"ENERGY_EDS_BASE_URL": EDS_LIVE_URL, "ENERGY_ODRE_BASE_URL": ODRE_LIVE_URL}
        for name, live_url in live.items():  # one stand-in process serves every provider's paths
            if name not in os.environ:
                self.env[name] = live_url if self.source == "live" else standin

    def _spawn(self, name: str, command: list[str], stop_signal: int = signal.SIGTERM) -> Child:
        child = Child(name, command, stop_signal, self.logs / f"{name}.log")
        child.log_handle = open(child.log_path, "ab")
        child.process = subprocess.Popen(command, env=self.env, stdout=child.log_handle, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=_default_signals)
        self.children.append(child)
        return child

    def _wait_ready(self, child: Child, ready: Callable[[], bool], timeout: float) -> None:
        assert child.process is not None
        elapsed = wait_ready(child.name, child.process, child.log_path, ready, timeout)
        say(f"  {child.name:<10} ready in {elapsed:4.1f}s  (log: {child.log_path})")

    def start(self) -> None:
        self.configure()
        energy = [sys.executable, "-m", "energy_orchestration.cli"]
        say(f"state folder {self.state_dir}")
        steps = 5 + int(self.embedded_broker) + int(self.source == "standin")
        step = 0
        if self.embedded_broker:
            step += 1
            port = settings.get_int("ENERGY_BROKER_PORT")
            if port_open(port):
                raise RuntimeError(f"port {port} is busy; set ENERGY_BROKER_PORT to a free port")
            say(f"[{step}/{steps}] starting embedded Kafka broker on 127.0.0.1:{port}")
            url = f"tcp://127.0.0.1:{port}"
            broker = self._spawn("broker", broker_command(url), stop_signal=signal.SIGINT)
            self._wait_ready(broker, lambda: port_open(port), 30)
        if self.source == "standin":
            step += 1
            port = settings.get_int("ENERGY_STANDIN_PORT")
            say(f"[{step}/{steps}] starting the API stand-in (Energi Data Service, ODRÉ) on 127.0.0.1:{port}")
            standin = self._spawn("standin", [*energy, "standin", "--port", str(port)])
            self._wait_ready(standin, lambda: http_ok(f"http://127.0.0.1:{port}/_standin/health"), 30)
        step += 1
        say(f"[{step}/{steps}] starting landing consumer (Kafka -> DuckDB {self.env['ENERGY_WAREHOUSE_PATH']})")
        consumer = self._spawn("consumer", [*energy, "consume"])
        self._wait_ready(consumer,
                         lambda: (self.logs / "consumer.log").read_text(errors="replace").count("reading") > 0, 60)
        step += 1
        api_url = self.api_url()
        say(f"[{step}/{steps}] starting the API and dashboard (energy serve) on {api_url}")
        if port_open(settings.get_int("ENERGY_API_PORT")):
            raise RuntimeError(f"port {settings.get_int('ENERGY_API_PORT')} is busy; "
                               "set ENERGY_API_PORT to a free port")
        api = self._spawn("api", [*energy, "serve"])
        self._wait_ready(api, lambda: http_ok(f"{api_url}/health"), 60)
        self.start_dagster(settings.get_int("ENERGY_DAGSTER_PORT"), DEFINITIONS_MODULE, step, steps)

    def start_dagster(self, port: int, definitions_module: str, step: int = 0, steps: int = 3) -> None:
        """Dagster's three processes: the gRPC code server of ``definitions_module``, then the
        webserver on ``port`` and the daemon, both through the workspace file; ready when the
        sensor daemon reports healthy. Also used by benchmarks/dagster_floor.py."""
        step += 1
        say(f"[{step}/{steps}] starting Dagster's code server (gRPC on 127.0.0.1:{self.code_port})")
        if port_open(self.code_port):
            raise RuntimeError(f"port {self.code_port} is busy; set ENERGY_DAGSTER_CODE_PORT to a free port "
                               "(or 0 for any)")
        code = self._spawn("code", [sys.executable, "-m", "dagster", "api", "grpc", "-h", "127.0.0.1",
                                    "-p", str(self.code_port), "-m", definitions_module,
                                    "--location-name", CODE_LOCATION])
        self._wait_ready(code, lambda: port_open(self.code_port), 180)
        step += 1
        say(f"[{step}/{steps}] starting Dagster's webserver on 127.0.0.1:{port} and daemon")
        dagster = [sys.executable, "-m", "energy_orchestration.dagster_loops"]  # two idle loops slowed
        webserver = self._spawn("webserver", [*dagster, "webserver", "-h", "127.0.0.1", "-p", str(port),
                                              "-w", str(self.workspace)])
        daemon = self._spawn("daemon", [*dagster, "daemon", "run", "-w", str(self.workspace)])
        self._wait_ready(webserver, lambda: http_ok(f"http://127.0.0.1:{port}/server_info"), 180)
        step += 1
        say(f"[{step}/{steps}] waiting for the daemon to pick up the sensor and schedule")
        self._wait_ready(daemon, lambda: sensor_daemon_healthy(port), 120)

    def api_url(self) -> str:
        """Where the API answers locally (a wildcard bind address is reached through loopback)."""
        host = settings.get("ENERGY_API_HOST")
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{host}:{settings.get_int('ENERGY_API_PORT')}"

    def banner(self) -> None:
        port = settings.get_int("ENERGY_DAGSTER_PORT")
        say("running. Where to look:")
        say(f"  Dashboard         {self.api_url()}/  (live; API docs at {self.api_url()}/docs)")
        say(f"  Dagster UI        http://127.0.0.1:{port}  (Assets: history -> raw -> agg/zone_*; "
            "Automation: fetch, landing, rollup, gap_repair, quality sensors)")
        say("  Backfill          `energy backfill --from YYYY-MM-DD --to YYYY-MM-DD`, or the `history` group in the UI")
        say(f"  Warehouse         {self.env['ENERGY_WAREHOUSE_PATH']}  (`energy status` summarises it)")
        say(f"  Source APIs       {self.env['ENERGY_EDS_BASE_URL']} (Energi Data Service), "
            f"{self.env['ENERGY_ODRE_BASE_URL']} (ODRÉ)")
        say(f"  Kafka             {self.env['KAFKA_BOOTSTRAP_SERVERS']}")
        say(f"  Logs              {self.logs}")
        say("Ctrl-C stops everything.")

    def watch(self, backoff_start: float = 1.0, backoff_max: float = 60.0, stable_after: float = 300.0,
              until: threading.Event | None = None) -> None:
        """Until Ctrl-C/SIGTERM. A part that dies is said so and restarted after a back-off
        (doubling from ``backoff_start`` to ``backoff_max``, reset once it stayed up for
        ``stable_after`` seconds); the others keep running and heal (the consumer and the API
        reconnect to a restarted broker, the sensors re-fetch what it lost). ``until`` ends the
        watch (tests)."""
        delays: dict[str, float] = {}
        started: dict[str, float] = {c.name: time.monotonic() for c in self.children}
        due: dict[str, float] = {}
        while until is None or not until.is_set():
            now = time.monotonic()
            for index, child in enumerate(self.children):
                assert child.process is not None
                if child.process.poll() is None:
                    if now - started.get(child.name, now) > stable_after:
                        delays.pop(child.name, None)
                    continue
                if child.name not in due:
                    delay = delays.get(child.name, backoff_start)
                    delays[child.name] = min(delay * 2, backoff_max)
                    due[child.name] = now + delay
                    say(f"{child.name} exited with code {child.process.returncode}; restarting it in {delay:g}s "
                        f"(log: {child.log_path}); last lines:\n{_tail(child.log_path, 5)}")
                elif now >= due[child.name]:
                    del due[child.name]
                    self.children[index] = self._respawn(child)
                    started[child.name] = time.monotonic()
                    say(f"  {child.name} restarted (pid {self.children[index].process.pid})")  # type: ignore[union-attr]
            time.sleep(0.5)

    def _respawn(self, child: Child) -> Child:
        """A new process for ``child``'s command (the caller puts it in ``child``'s place)."""
        if child.log_handle:
            child.log_handle.close()
        fresh = self._spawn(child.name, child.command, child.stop_signal)
        self.children.remove(fresh)  # _spawn appends it
        return fresh

    def stop(self, grace_seconds: float = 20.0) -> None:
        order = ["daemon", "webserver", "code", "api", "consumer", "standin", "broker"]
        for name in order:
            for child in [c for c in self.children if c.name == name]:
                self._stop_child(child, grace_seconds)
        self.children.clear()

    def _stop_child(self, child: Child, grace_seconds: float) -> None:
        process = child.process
        if process is None:
            return
        if process.poll() is None:
            say(f"stopping {child.name}")
            try:
                os.killpg(process.pid, child.stop_signal)
                process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                say(f"{child.name} did not stop within {grace_seconds:g}s; killing it")
            except ProcessLookupError:
                pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever of its group is left (run workers, code servers)
        except (ProcessLookupError, PermissionError):
            pass
        process.wait()
        if child.log_handle:
            child.log_handle.close()


def workspace_yaml(code_host: str, code_port: int) -> str:
    """The workspace every Dagster process but the code server loads (demo and production
    profile): the code location over gRPC only, nothing imported in-process."""
    return ("load_from:\n  - grpc_server:\n"
            f"      host: {code_host}\n      port: {code_port}\n      location_name: {CODE_LOCATION}\n")


def sensor_daemon_healthy(port: int) -> bool:
    query = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"
    try:
        answer = requests.post(f"http://127.0.0.1:{port}/graphql", json={"query": query}, timeout=2).json()
        statuses = answer["data"]["instance"]["daemonHealth"]["allDaemonStatuses"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return False
    return any(s["daemonType"] == "SENSOR" and s["healthy"] for s in statuses)


def _default_signals() -> None:
    """In a child, undo an inherited 'ignore SIGINT' (background jobs of a shell get one), so
    our ordered stop signals are obeyed."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run_demo(source: str = "standin") -> int:
    stack = DemoStack(source=source)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a demo started in the background inherits SIGINT as ignored.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    try:
        stack.start()
        stack.banner()
        stack.watch()
    except KeyboardInterrupt:
        say("Ctrl-C: stopping")
    except RuntimeError as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort the clean-up
        stack.stop()
        say("stopped; nothing left running")
    return code
