"""Running the API: ``energy serve`` in the foreground, or :class:`ApiServer` in a thread (tests,
benchmarks) on real sockets."""

from __future__ import annotations

import logging
import re
import threading
import time
from types import TracebackType

import uvicorn

from energy_orchestration.serving.app import create_app
from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.warehouse import Warehouse

_TOKEN_IN_URL = re.compile(r"(token=)[^&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """Uvicorn logs WebSocket paths with their query string; ``?token=`` must not reach a log."""
    return _TOKEN_IN_URL.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args) \
                if isinstance(record.args, tuple) else record.args
        record.msg = redact(str(record.msg))
        return True


def install_log_redaction() -> None:
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def _uvicorn_config(config: ServerConfig, warehouse: Warehouse, bootstrap_servers: str | None) -> uvicorn.Config:
    install_log_redaction()
    return uvicorn.Config(create_app(config, warehouse, bootstrap_servers), host=config.host, port=config.port,
                          log_config=None, access_log=False, ws_ping_interval=20, ws_ping_timeout=20,
                          timeout_graceful_shutdown=5)


def serve(config: ServerConfig, warehouse: Warehouse, bootstrap_servers: str | None) -> None:
    """Until SIGINT/SIGTERM (uvicorn handles both and closes WebSockets)."""
    uvicorn.Server(_uvicorn_config(config, warehouse, bootstrap_servers)).run()


class ApiServer:
    """The real server in a background thread, for tests and benchmarks."""

    def __init__(self, config: ServerConfig, warehouse: Warehouse, bootstrap_servers: str | None) -> None:
        self.config = config
        self.server = uvicorn.Server(_uvicorn_config(config, warehouse, bootstrap_servers))
        self.thread = threading.Thread(target=self.server.run, name="api-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.config.port}"

    @property
    def app(self):  # noqa: ANN201 - the FastAPI app, for its state (cache, hub, feeder)
        return self.server.config.app

    def __enter__(self) -> "ApiServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("API server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.should_exit = True
        self.thread.join(15)
