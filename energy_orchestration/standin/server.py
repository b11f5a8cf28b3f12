"""Wiring: configuration, the background-thread server and the blocking CLI entry point."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType

from energy_orchestration.model import utc_now

from .energidataservice import EnergiDataServiceApp
from .http import ControlPlane, FaultConfig, FaultState, StandinHttpApp, StandinHTTPServer, make_handler
from .odre import OdreApp, OdreStandinConfig

logger = logging.getLogger("energy_orchestration.standin")

__all__ = ["StandinConfig", "StandinServer", "build_app", "serve_forever"]


@dataclass
class StandinConfig:
    """Start-up settings. ``now``/``monotonic`` are injectable so tests can freeze time."""

    host: str = "127.0.0.1"
    port: int = 0  # 0 = let the OS pick a free port
    rate_limit_per_minute: float = 1.0  # per dataset and client IP; 0 disables
    history_start: datetime = datetime(2020, 1, 1, tzinfo=timezone.utc)
    publication_lag_seconds: int = 0
    faults: FaultConfig = field(default_factory=FaultConfig)
    now: Callable[[], datetime] = utc_now  # the platform clock (ENERGY_CLOCK_NOW pins it)
    monotonic: Callable[[], float] = time.monotonic
    correction_rate: float = 0.0
    """Share of Energi Data Service rows the stand-in corrects a few minutes after publishing them
    (deterministic; the demo sets ``ENERGY_STANDIN_CORRECTION_RATE``)."""
    odre: OdreStandinConfig = field(default_factory=OdreStandinConfig)
    """ODRÉ éCO2mix paths: own optional rate limit, publication lag, real-time/consolidation ranges."""


def build_app(config: StandinConfig) -> StandinHttpApp:
    """Compose the generic HTTP layer with every stand-in API (Energi Data Service and ODRÉ)."""
    faults = FaultState(config.faults, monotonic=config.monotonic)
    control = ControlPlane(
        rate_limit_per_minute=config.rate_limit_per_minute, faults=faults, monotonic=config.monotonic
    )
    eds = EnergiDataServiceApp(
        now=config.now,
        history_start=config.history_start,
        publication_lag_seconds=config.publication_lag_seconds,
        faults=faults,
        correction_rate=config.correction_rate,
    )
    odre = OdreApp(now=config.now, history_start=config.history_start, faults=faults, config=config.odre,
                   monotonic=config.monotonic)
    return StandinHttpApp([*eds.routes(), *odre.routes()], control)


class StandinServer:
    """A ``ThreadingHTTPServer`` on a background daemon thread, for tests and the demo."""

    def __init__(self, config: StandinConfig | None = None) -> None:
        self.config = config or StandinConfig()
        self.app = build_app(self.config)
        self._httpd: StandinHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> StandinServer:
        """Bind (port 0 picks a free one) and serve in the background; returns self."""
        if self._httpd is not None:
            raise RuntimeError("stand-in server already started")
        self._httpd = StandinHTTPServer((self.config.host, self.config.port), make_handler(self.app))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="energidataservice-standin",
            daemon=True,
        )
        self._thread.start()
        logger.debug("stand-in started on %s", self.url)
        return self

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("stand-in server not started")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.config.host}:{self.port}"

    def stop(self) -> None:
        """Stop serving and release the port; safe to call twice."""
        httpd, thread = self._httpd, self._thread
        self._httpd, self._thread = None, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        logger.debug("stand-in stopped")

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(config: StandinConfig) -> None:
    """Block until Ctrl-C or SIGTERM (for ``energy standin``), then shut down cleanly."""
    stop_requested = threading.Event()
    server = StandinServer(config).start()
    logger.info("Energi Data Service stand-in listening on %s", server.url)
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop_requested.set())
    try:
        while not stop_requested.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        logger.info("Energi Data Service stand-in stopped")
