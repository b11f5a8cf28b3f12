"""Generic HTTP layer shared by all stand-ins (Energi Data Service today, ODRÉ later).

Dataset apps only supply :class:`Route` objects whose handlers turn a parsed
:class:`Request` into a :class:`Response`. Everything that must behave the same
for every upstream we imitate lives here: routing, query parsing, plain-text
and JSON responses, per-dataset/per-IP rate limiting, fault injection, request
statistics and the test-only control endpoints under ``/_standin/``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import random
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

logger = logging.getLogger("energy_orchestration.standin")

__all__ = [
    "ControlPlane",
    "DataKey",
    "FaultConfig",
    "FaultState",
    "HttpError",
    "RateLimiter",
    "Request",
    "RequestStats",
    "Response",
    "Route",
    "StandinHttpApp",
    "StandinHTTPServer",
    "empty_response",
    "json_response",
    "make_handler",
    "parse_query_string",
    "text_response",
]


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Request:
    """What a handler needs from an HTTP request, independent of ``http.server``."""

    method: str
    path: str
    query: Mapping[str, str]  # names lower-cased, values URL-decoded, first occurrence wins
    headers: Mapping[str, str] = field(default_factory=dict)
    client_ip: str = "127.0.0.1"
    body: bytes = b""


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


def json_response(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    """Compact JSON, like the real APIs (clients must not depend on whitespace)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
    return Response(status, body, "application/json; charset=utf-8", dict(headers or {}))


def text_response(text: str, status: int) -> Response:
    """Energi Data Service reports client errors as plain text, not JSON."""
    return Response(status, text.encode("utf-8"), "text/plain; charset=utf-8")


def empty_response(status: int = 204) -> Response:
    return Response(status)


class HttpError(Exception):
    """Raised by handlers to answer with a plain-text error and a real status code."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def to_response(self) -> Response:
        return text_response(self.message, self.status)


def parse_query_string(query: str) -> dict[str, str]:
    """Decode a query string the way ASP.NET-style APIs do: case-insensitive names.

    ``+`` decodes to a space (so ``now+PT1H`` arrives as ``now PT1H``; apps must
    accept that) and ``%2B`` to a literal ``+``.
    """
    parsed = parse_qs(query, keep_blank_values=True)
    result: dict[str, str] = {}
    for name, values in parsed.items():
        result.setdefault(name.lower(), values[0])
    return result


# --------------------------------------------------------------------------- routing


def parse_sort_keys(raw: str | None, fields: Iterable[str], bad_expression: Callable[[str], Exception],
                    unknown_field: Callable[[str], Exception]) -> list[tuple[str, bool]]:
    """``Col``, ``Col desc``, ``Col asc`` (comma-separated) -> [(column, descending)].

    Both providers sort this way; they differ only in how they word the errors.
    """
    if raw is None or not raw.strip():
        return []
    known = set(fields)
    keys: list[tuple[str, bool]] = []
    for part in raw.split(","):
        tokens = part.split()
        if not tokens:
            continue
        if len(tokens) > 2 or (len(tokens) == 2 and tokens[1].lower() not in ("asc", "desc")):
            raise bad_expression(part.strip())
        if tokens[0] not in known:
            raise unknown_field(tokens[0])
        keys.append((tokens[0], len(tokens) == 2 and tokens[1].lower() == "desc"))
    return keys


class DataKey(NamedTuple):
    """Identifies the dataset a data request targets; ``known`` gates limits and faults."""

    name: str
    known: bool


Handler = Callable[[Request, "re.Match[str]"], Response]


@dataclass(frozen=True)
class Route:
    """``pattern`` is matched in full against the path (trailing slash stripped).

    Routes with ``data_key`` are data requests: rate limited, subject to fault
    injection and counted in the stats; others (meta, control) are served as is.
    """

    method: str
    pattern: re.Pattern[str]
    handler: Handler
    data_key: Callable[[re.Match[str]], DataKey] | None = None


# --------------------------------------------------------------------------- rate limiting


class RateLimiter:
    """Token bucket per (dataset, client IP): capacity 1, refill ``per_minute``/60 per second.

    Mirrors the real service's "1 request per minute per dataset" gateway limit;
    ``per_minute <= 0`` disables limiting.
    """

    def __init__(self, per_minute: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._per_minute = float(per_minute)

    @property
    def per_minute(self) -> float:
        return self._per_minute

    def set_rate(self, per_minute: float) -> None:
        """Change the rate and forget all buckets, so tests start from a clean slate."""
        with self._lock:
            self._per_minute = float(per_minute)
            self._buckets.clear()

    def acquire(self, key: tuple[str, str]) -> int | None:
        """Take a token; return ``None`` if allowed, else the whole seconds to wait (>= 1)."""
        with self._lock:
            if self._per_minute <= 0:
                return None
            refill_per_second = self._per_minute / 60.0
            now = self._monotonic()
            tokens, last = self._buckets.get(key, (1.0, now))
            tokens = min(1.0, tokens + (now - last) * refill_per_second)
            if tokens >= 1.0 - 1e-9:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / refill_per_second - 1e-9))


def rate_limited_response(retry_after: int) -> Response:
    """The Azure API Management style 429 the real service sends."""
    return json_response(
        {"statusCode": 429, "message": f"Rate limit is exceeded. Try again in {retry_after} seconds."},
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


# --------------------------------------------------------------------------- faults


@dataclass
class FaultConfig:
    """Failure modes for tests; the defaults are all off.

    ``rate_limit_per_minute`` of ``None`` keeps the server's configured limit.

    ``bad_record_rate`` (0..1) makes that fraction of served rows carry one deliberately
    invalid value, so the pipeline's quarantine can be shown. Which rows are bad is a hash of
    the row (same rows on every request; a higher rate only adds rows), and bad rows rotate
    through three errors: a negative value, the string ``"n/a"`` in a numeric column, and
    ``1e9``. Energi Data Service puts them in SolarPower / OnshoreWindPower /
    OffshoreWindPower (PowerSystemRightNow, ElectricityProdex5MinRealtime) and in
    CO2Emission (CO2Emis); éCO2mix in nucleaire / solaire / consommation. Filters and sorts
    see the clean values.
    """

    latency_ms: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    fail_for_seconds: float = 0.0
    fail_status: int = 503
    missing_minutes_rate: float = 0.0
    rate_limit_per_minute: float | None = None
    seed: int = 0
    bad_record_rate: float = 0.0

    def validate(self) -> None:
        """Reject nonsense early so a typo in a test fails loudly instead of doing nothing."""
        if self.latency_ms < 0:
            raise ValueError("latency_ms must be >= 0")
        for name in ("error_rate", "missing_minutes_rate", "bad_record_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.fail_for_seconds < 0:
            raise ValueError("fail_for_seconds must be >= 0")
        for name in ("error_status", "fail_status"):
            if not 400 <= getattr(self, name) <= 599:
                raise ValueError(f"{name} must be an HTTP error status (400-599)")
        if self.rate_limit_per_minute is not None and self.rate_limit_per_minute < 0:
            raise ValueError("rate_limit_per_minute must be >= 0")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], base: FaultConfig | None = None) -> FaultConfig:
        """Merge a (partial) JSON object onto ``base``, type-checking every field."""
        known = {f.name: f for f in dataclasses.fields(cls)}
        merged = dataclasses.asdict(base or cls())
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown fault setting {name!r}")
            if name == "rate_limit_per_minute" and value is None:
                merged[name] = None
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number")
            merged[name] = int(value) if name in ("error_status", "fail_status", "seed") else float(value)
        config = cls(**merged)
        config.validate()
        return config


class FaultState:
    """The live fault settings; thread-safe, shared by the HTTP layer and the apps."""

    def __init__(self, config: FaultConfig | None = None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._config = FaultConfig()
        self._fail_until = 0.0
        self._rng = random.Random(0)
        self.replace(config or FaultConfig())

    def replace(self, config: FaultConfig, changed: Iterable[str] | None = None) -> None:
        """Install ``config``.

        ``fail_for_seconds`` counts from now and the RNG restarts from ``seed`` -
        but only when those settings are among ``changed`` (``None`` = all), so a
        later unrelated update (say, latency) does not re-open a failure window.
        """
        config.validate()
        changed = set(dataclasses.asdict(config) if changed is None else changed)
        with self._lock:
            self._config = config
            if "fail_for_seconds" in changed:
                secs = config.fail_for_seconds
                self._fail_until = self._monotonic() + secs if secs > 0 else 0.0
            if changed & {"seed", "error_rate"}:
                self._rng = random.Random(config.seed)

    @property
    def config(self) -> FaultConfig:
        with self._lock:
            return dataclasses.replace(self._config)

    @property
    def missing_minutes_rate(self) -> float:
        with self._lock:
            return self._config.missing_minutes_rate

    @property
    def latency_seconds(self) -> float:
        with self._lock:
            return self._config.latency_ms / 1000.0

    def injected_failure(self) -> Response | None:
        """A failure response if a fault applies to this request, else ``None``."""
        with self._lock:
            if self._fail_until and self._monotonic() < self._fail_until:
                status = self._config.fail_status
            elif self._config.error_rate > 0 and self._rng.random() < self._config.error_rate:
                status = self._config.error_status
            else:
                return None
        return text_response(_reason(status), status)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            described = dataclasses.asdict(self._config)
            described["fail_remaining_seconds"] = round(max(0.0, self._fail_until - self._monotonic()), 3)
        return described


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


# --------------------------------------------------------------------------- statistics


class RequestStats:
    """Counts data requests per dataset and status, so tests can assert exact call counts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))

    def record(self, dataset: str, status: int) -> None:
        with self._lock:
            self._counts[dataset][status] += 1

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            datasets = {
                name: {
                    "total": sum(by_status.values()),
                    "by_status": {str(s): n for s, n in sorted(by_status.items())},
                }
                for name, by_status in sorted(self._counts.items())
            }
        return {"total": sum(d["total"] for d in datasets.values()), "datasets": datasets}


# --------------------------------------------------------------------------- the application


class ControlPlane:
    """Shared mutable state behind the control endpoints."""

    def __init__(
        self,
        *,
        rate_limit_per_minute: float,
        faults: FaultState,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.faults = faults
        self.stats = RequestStats()
        self.base_rate_limit_per_minute = float(rate_limit_per_minute)
        override = faults.config.rate_limit_per_minute
        self.limiter = RateLimiter(
            override if override is not None else rate_limit_per_minute, monotonic=monotonic
        )

    def apply_faults(self, config: FaultConfig, changed: Iterable[str] | None = None) -> None:
        """Install faults; the limiter is reset only when its rate may have changed."""
        self.faults.replace(config, changed)
        if changed is None or "rate_limit_per_minute" in changed:
            rate = config.rate_limit_per_minute
            self.limiter.set_rate(rate if rate is not None else self.base_rate_limit_per_minute)

    def routes(self) -> list[Route]:
        """``/_standin/*``: test-only, exempt from rate limits and faults."""

        def health(_: Request, __: re.Match[str]) -> Response:
            return json_response({"status": "ok"})

        def get_faults(_: Request, __: re.Match[str]) -> Response:
            return json_response(self._faults_payload())

        def post_faults(request: Request, _: re.Match[str]) -> Response:
            try:
                changes = json.loads(request.body.decode("utf-8") or "{}")
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise HttpError(400, f"Invalid JSON body: {exc}") from exc
            if not isinstance(changes, dict):
                raise HttpError(400, "Body must be a JSON object")
            try:
                config = FaultConfig.from_mapping(changes, base=self.faults.config)
            except (TypeError, ValueError) as exc:
                raise HttpError(400, str(exc)) from exc
            self.apply_faults(config, changed=changes.keys())
            logger.debug("faults updated: %s", changes)
            return json_response(self._faults_payload())

        def delete_faults(_: Request, __: re.Match[str]) -> Response:
            self.apply_faults(FaultConfig())
            return json_response(self._faults_payload())

        def get_stats(_: Request, __: re.Match[str]) -> Response:
            return json_response(self.stats.snapshot())

        def delete_stats(_: Request, __: re.Match[str]) -> Response:
            self.stats.reset()
            return json_response(self.stats.snapshot())

        return [
            Route("GET", re.compile(r"/_standin/health"), health),
            Route("GET", re.compile(r"/_standin/faults"), get_faults),
            Route("POST", re.compile(r"/_standin/faults"), post_faults),
            Route("DELETE", re.compile(r"/_standin/faults"), delete_faults),
            Route("GET", re.compile(r"/_standin/stats"), get_stats),
            Route("DELETE", re.compile(r"/_standin/stats"), delete_stats),
        ]

    def _faults_payload(self) -> dict[str, Any]:
        payload = self.faults.describe()
        payload["effective_rate_limit_per_minute"] = self.limiter.per_minute
        return payload


class StandinHttpApp:
    """Dispatches requests to routes, applying the cross-cutting behaviour of the real gateway.

    Order for data requests mirrors a real deployment: the gateway's rate limit
    first (a 429 never reaches the backend), then backend faults, then the handler.
    """

    def __init__(
        self,
        routes: Iterable[Route],
        control: ControlPlane,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.control = control
        self._routes = [*control.routes(), *routes]
        self._sleep = sleep

    def handle(self, request: Request) -> Response:
        path = request.path.rstrip("/") or "/"
        path_matched = False
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match is None:
                continue
            path_matched = True
            if route.method != request.method:
                continue
            return self._dispatch(route, match, request)
        if path_matched:
            return text_response("Method Not Allowed", 405)
        return text_response("Not Found", 404)

    def _dispatch(self, route: Route, match: re.Match[str], request: Request) -> Response:
        if route.data_key is None:
            return _call(route.handler, request, match)
        key = route.data_key(match)
        if not key.known:
            response = _call(route.handler, request, match)
        else:
            retry_after = self.control.limiter.acquire((key.name, request.client_ip))
            if retry_after is not None:
                response = rate_limited_response(retry_after)
            else:
                latency = self.control.faults.latency_seconds
                if latency > 0:
                    self._sleep(latency)
                response = self.control.faults.injected_failure() or _call(route.handler, request, match)
        self.control.stats.record(key.name, response.status)
        return response


def _call(handler: Handler, request: Request, match: re.Match[str]) -> Response:
    try:
        return handler(request, match)
    except HttpError as exc:
        return exc.to_response()
    except Exception:  # a bug in a stand-in must not kill the connection silently
        logger.exception("stand-in handler failed for %s %s", request.method, request.path)
        return text_response("Internal Server Error", 500)


# --------------------------------------------------------------------------- http.server glue


class StandinHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_handler(app: StandinHttpApp) -> type[BaseHTTPRequestHandler]:
    """Bind ``app`` into a ``BaseHTTPRequestHandler`` subclass (HTTP/1.1, keep-alive)."""

    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "EnergiDataServiceStandin/1.0"

        def _serve(self) -> None:
            started = time.perf_counter()
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            request = Request(
                method=self.command,
                path=split.path,
                query=parse_query_string(split.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                client_ip=self.client_address[0],
                body=body,
            )
            response = app.handle(request)
            try:
                self.send_response(response.status)
                if response.content_type:
                    self.send_header("Content-Type", response.content_type)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if response.status not in (204, 304):
                    self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                if response.body and self.command != "HEAD" and response.status not in (204, 304):
                    self.wfile.write(response.body)
            except (BrokenPipeError, ConnectionResetError):
                logger.debug("client went away during %s %s", self.command, self.path)
                self.close_connection = True
            logger.debug(
                "%s %s %s -> %d (%d bytes, %.1f ms)",
                request.client_ip,
                self.command,
                self.path,
                response.status,
                len(response.body),
                (time.perf_counter() - started) * 1000.0,
            )

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass  # _serve logs one line per request itself

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            logger.debug("%s " + format, self.address_string(), *args)

    return _Handler
