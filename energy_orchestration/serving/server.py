"""Running the API: ``energy serve`` in the foreground, or :class:`ApiServer` in a thread (tests,
benchmarks) on real sockets."""

from __future__ import annotations

import logging
import re
import threading
import time
from types import TracebackType
from urllib.parse import unquote_plus

import uvicorn

from energy_orchestration.serving.app import create_app
from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.warehouse import Warehouse

_QUERY_PARAMETER = re.compile(r"(?P<name>[^?&;=\s\"']+)=(?P<value>[^&;\s\"']*)")
_AUTHORIZATION = re.compile(r"(?i)(authorization['\"]?\s*[:=,]\s*(?:b(?=['\"]))?['\"]?)[^\r\n'\"]+")
_BEARER = re.compile(r"(?i)(\bbearer\s+)[^\s'\",)]+")


def redact(text: str) -> str:
    """A log line with every bearer token replaced by ``***``: the value of any query parameter
    whose *decoded* name is ``token`` (``?token=``, ``?%74oken=``: Starlette decodes names, so
    both authenticate), an ``Authorization`` header in any rendering (the WebSocket library logs
    handshake headers at DEBUG), and anything after ``Bearer``."""
    def parameter(match: re.Match[str]) -> str:
        name = unquote_plus(match.group("name"))
        return f"{match.group('name')}=***" if name.strip().lower().endswith("token") else match.group(0)

    text = _QUERY_PARAMETER.sub(parameter, text) if "=" in text else text
    text = _AUTHORIZATION.sub(r"\1***", text)
    return _BEARER.sub(r"\1***", text)


class RedactTokens(logging.Filter):
    """Redacts the formatted message (whatever the arguments' types: bytes, header lists)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the logging module's to report, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


_REDACTED_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.protocols", "websockets",
                     "websockets.server", "websockets.protocol", "fastapi", "starlette")


def install_log_redaction() -> None:
    """On the loggers that see requests, and on every handler of the root logger, so records of
    any library that propagate there are redacted too (a logger's filter does not cover its
    children; a handler's does)."""
    for name in _REDACTED_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactTokens) for f in handler.filters):
            handler.addFilter(RedactTokens())


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
