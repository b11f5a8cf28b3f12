"""The FastAPI application: HTTP endpoints, the WebSocket live push and the dashboard files.

Handlers are thin: validation here, reads in :mod:`.queries` (warehouse) or :mod:`.cache`
(latest values). Blocking warehouse reads are plain ``def`` handlers, which FastAPI runs in
its thread pool, so the event loop stays free for the WebSocket fan-out. No
``from __future__ import annotations`` here: FastAPI reads the annotations at run time.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketDisconnect

from energy_orchestration.model import QUANTITIES, ZONES, utc_now
from energy_orchestration.serving import exports, history, queries
from energy_orchestration.serving.auth import bearer_token
from energy_orchestration.serving.cache import LatestCache, iso_utc
from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.serving.feeder import CacheFeeder
from energy_orchestration.serving.push import PushHub
from energy_orchestration.sources import DATASETS
from energy_orchestration.streaming.health import describe as describe_landing
from energy_orchestration.streaming.health import read_health as read_landing_health
from energy_orchestration.streaming.topics import raw_topic
from energy_orchestration.warehouse import Warehouse, WarehouseBusy, WarehouseMissing
from energy_orchestration.warehouse.status import staleness

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
API = "/api/v1"
EARLIEST_YEAR, LATEST_YEAR = 1970, 2100
"""Dates and times outside these years are refused (400): nothing lives there, and local-time
conversions at the edges of Python's calendar overflow."""

# Enums make the vocabulary part of the OpenAPI spec: clients (and the fuzzer) see the valid
# values, and anything else is a 422 naming them.
Zone = StrEnum("Zone", {z: z for z in ZONES})
Quantity = StrEnum("Quantity", {q: q for q in QUANTITIES})
Dataset = StrEnum("Dataset", {d: d for d in DATASETS})


ZonePath = Annotated[Zone, PathParam(description="zone id, e.g. DK-DK1 or FR-84")]
Limit = Annotated[int, Query(ge=1, le=10_000)]
AsOf = Annotated[datetime | None, Query(description=(
    "ISO time (UTC unless it has an offset): answer with the values the platform held then, from the "
    "`observation_history` view (every revision kept); before anything landed the answer is empty"))]


Grain = StrEnum("Grain", {g: g for g in queries.AGGREGATE_TABLES})  # the schema's zone tables, like Zone/Quantity above
PageLimit = Annotated[int | None, Query(ge=1, le=10_000, description=(
    "rows per page (1..10,000); default 1,000 for JSON; CSV/Parquet without a limit answer every row"))]
Cursor = Annotated[str | None, Query(max_length=500,
                                      description="the next_cursor (or Link rel=next) of the previous page")]


class ReadingOut(BaseModel):
    dataset: str
    zone: str
    quantity: str
    interval_start_utc: str
    interval_minutes: int
    value: float
    unit: str
    status: str


class LatestOut(BaseModel):
    values: list[ReadingOut]
    cache_caught_up: bool


class ObservationsOut(BaseModel):
    zone: str
    items: list[dict[str, Any]]
    next_cursor: str | None
    truncated: bool
    """True exactly when more rows follow (then ``next_cursor`` fetches them)."""


class DayOut(BaseModel):
    zone: str
    date: date
    time_zone: str
    from_utc: str
    to_utc: str
    items: list[dict[str, Any]]


class AggregatesOut(BaseModel):
    zone: str
    grain: str
    items: list[dict[str, Any]]
    next_cursor: str | None
    truncated: bool
    """True exactly when more rows follow (then ``next_cursor`` fetches them)."""


PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """Every error the API answers, as RFC 9457 ``application/problem+json``."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None
    """Validation errors (422 only): one per offending parameter, with its location."""


_ERRORS = {
    400: "a parameter is well-formed but not acceptable "
         "(e.g. 'from' after 'to', a year outside 1970..2100, a bad cursor)",
    401: "missing or invalid bearer token (when authentication is on)",
    404: "no such table or resource",
    422: "a parameter is missing or not of the documented type or vocabulary",
    406: "the format asked for (?format= or the Accept header) is not one the endpoint answers",
    503: "the warehouse is busy (Retry-After) or does not exist yet",
    500: "an unexpected server error (a bug: logged with its traceback)",
}
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "model": Problem,
             "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    for status, text in _ERRORS.items() if status != 406}
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "JSON (default), or CSV / Parquet (`Accept` or `?format=`): the JSON items' columns; "
                         "CSV times are ISO 8601 UTC with Z, Parquet times UTC instants; a cut page says so "
                         "in `X-Truncated` and `Link`",
          "content": {"text/csv": {"schema": {"type": "string"}},
                      "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}}},
          "headers": {
              "X-Row-Count": {"description": "rows in this CSV/Parquet answer", "schema": {"type": "integer"}},
              "X-Truncated": {"description": "CSV/Parquet: true when the page was cut at `limit` and more rows "
                                             "follow", "schema": {"type": "boolean"}},
              "Link": {"description": "CSV/Parquet, only when cut: `<URL with cursor>; rel=\"next\"`",
                       "schema": {"type": "string"}},
              "Content-Disposition": {"description": "CSV/Parquet: `attachment; filename=…` (zone, range, grain)",
                                      "schema": {"type": "string"}}}},
    406: {"description": _ERRORS[406], "model": Problem,
          "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}},
}
"""The extra media types and headers of the endpoints that answer CSV and Parquet too."""


def output_format(request: Request, format: Annotated[str | None, Query(
        max_length=50, json_schema_extra={"enum": list(exports.FORMATS)},
        description="json (default), csv or parquet; wins over the Accept header")] = None) -> str:
    """The answer's format: ``?format=``, else the ``Accept`` header. A format the endpoint cannot
    answer, asked either way, is one 406 naming what it can (not FastAPI's 422 for an enum)."""
    if format is not None:
        if format not in exports.FORMATS:
            raise HTTPException(406, f"format {format!r} is not one this endpoint answers: "
                                     f"?format={'|'.join(exports.FORMATS)} (or Accept: {', '.join(exports.ACCEPTED)})")
        return format
    accept = request.headers.get("accept")
    chosen = exports.negotiate(accept)
    if chosen is None:
        raise HTTPException(406, f"cannot answer 'Accept: {accept[:200]}'; this endpoint answers "
                                 f"{', '.join(exports.ACCEPTED)} (or pass ?format={'|'.join(exports.FORMATS)})")
    return chosen


OutputFormat = Annotated[str, Depends(output_format)]


def export_response(request: Request, warehouse: Warehouse, selection: queries.Selection, fmt: str,
                    limit: int | None, name: str) -> Response:
    """A CSV/Parquet answer, streamed in chunks from a file DuckDB wrote (``serving.exports``):
    the row count, and when the page is cut ``X-Truncated: true`` + ``Link: <…>; rel="next"``."""
    try:
        handle, written = exports.spool(warehouse, selection, fmt, limit)
    except queries.NoSuchTable as exc:
        raise HTTPException(404, str(exc)) from None
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Content-Length": str(written.bytes),
               "X-Row-Count": str(written.rows), "X-Truncated": "true" if written.next_cursor else "false"}
    if written.next_cursor:
        headers["Link"] = f'<{request.url.include_query_params(cursor=written.next_cursor)}>; rel="next"'
    media = exports.MEDIA_TYPES[fmt] + ("; charset=utf-8" if fmt == "csv" else "")
    return StreamingResponse(exports.chunks(handle), media_type=media, headers=headers)


def problem(status: int, detail: str, headers: dict[str, str] | None = None,
            errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    """An RFC 9457 problem response: the one error shape of the API."""
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
                            "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _check_year(value: date | datetime, name: str) -> None:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise HTTPException(400, f"{name} must be between {EARLIEST_YEAR} and {LATEST_YEAR}")


def _utc(value: datetime, name: str) -> datetime:
    """A query time as naive UTC; times without an offset are taken as UTC."""
    _check_year(value, name)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _as_of(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value, "as_of")


def create_app(config: ServerConfig, warehouse: Warehouse, bootstrap_servers: str | None) -> FastAPI:
    """``bootstrap_servers=None`` serves the warehouse seed only (no live cache updates).

    The app is assembled from one router per area (below); this function owns only what they
    share: the cache, the push hub, the feeder and its lifespan, error handling and auth."""
    cache = LatestCache()
    hub = PushHub(config.topic_allow, config.queue_size)
    topic_of = {d: raw_topic(d) for d in DATASETS}
    feeder = (CacheFeeder(bootstrap_servers, config.consumer_group, cache, hub.publish_threadsafe)
              if bootstrap_servers else None)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        hub.loop = asyncio.get_running_loop()
        try:
            seed = await asyncio.to_thread(queries.latest_readings, warehouse)
            cache.apply(topic_of, seed)
            log.info("cache seeded from the warehouse: %d values", len(cache))
        except (WarehouseBusy, WarehouseMissing) as exc:
            log.warning("cache not seeded (%s); it fills from Kafka", exc)
        if feeder:
            feeder.start()
        log.info("serving on %s:%d; %s; WebSocket topics matching %r", config.host, config.port,
                 config.auth.describe(), config.topic_allow.pattern)
        yield
        if feeder:
            await asyncio.to_thread(feeder.stop)

    app = FastAPI(title="energy-orchestration API", version="1", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Grid operators' electricity data: latest values (live cache fed from Kafka), "
                              "readings, aggregates and freshness from the DuckDB warehouse. All times are UTC "
                              "unless named local. Every error is an RFC 9457 `application/problem+json` body "
                              "(`Problem`); the WebSocket `/api/v1/live` refuses a bad token with HTTP 403 "
                              "at the handshake.")
    app.state.cache, app.state.hub, app.state.feeder, app.state.config = cache, hub, feeder, config
    if config.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(config.cors_origins), allow_methods=["GET"],
                           allow_headers=["Authorization"], expose_headers=list(exports.EXPOSED_HEADERS))
    _install_error_handlers(app)

    bearer = HTTPBearer(auto_error=False, description="Required when the server is not bound to loopback.")

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if not config.auth.allows(credentials.credentials if credentials else None):
            raise HTTPException(401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"})

    app.include_router(health_router(warehouse, cache, feeder))
    for router in (vocabulary_router(config, topic_of), latest_router(cache, feeder), readings_router(warehouse),
                   aggregates_router(warehouse), freshness_router(config, warehouse), dashboard_router(warehouse)):
        app.include_router(router, prefix=API, dependencies=[Depends(authorised)], responses=ERROR_RESPONSES)
    app.openapi = lambda: _problem_only_openapi(app)  # type: ignore[method-assign]
    app.include_router(live_router(config, cache, hub))
    app.include_router(docs_router(app))
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as one RFC 9457 problem, whoever raised it."""

    @app.exception_handler(WarehouseBusy)
    async def busy(_request: Request, exc: WarehouseBusy) -> JSONResponse:
        return problem(503, str(exc), headers={"Retry-After": "5"})

    @app.exception_handler(WarehouseMissing)
    async def missing(_request: Request, exc: WarehouseMissing) -> JSONResponse:
        # Reading never creates the warehouse: until the consumer has, data endpoints say so.
        return problem(503, str(exc), headers={"Retry-After": "30"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        # a bug, not the client's fault: logged with its traceback, answered in the one error shape
        log.error("unhandled error", exc_info=exc)
        return problem(500, "internal error; see the server log")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        summary = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
        return problem(422, summary or "invalid request", errors=errors)


def health_router(warehouse: Warehouse, cache: LatestCache, feeder: CacheFeeder | None) -> APIRouter:
    """``/health``: no token, no data."""
    router = APIRouter()

    @router.get("/health", tags=["meta"])
    async def health() -> dict[str, Any]:
        """Liveness, the live cache's state (caught up with Kafka, reconnecting …) and whether
        landing is stalled (the consumer's own health file; no token needed; no data)."""
        landing = describe_landing(read_landing_health(warehouse.path), utc_now().replace(tzinfo=None))
        state = feeder.health() if feeder else {"cache_caught_up": False, "cache_state": "off (no Kafka)"}
        return {"status": "ok" if landing["ok"] else "degraded", **state,
                "cached_values": len(cache), "landing": landing["message"]}

    return router


def vocabulary_router(config: ServerConfig, topic_of: dict[str, str]) -> APIRouter:
    """Zones, quantities and datasets: the vocabulary every other endpoint speaks."""
    router = APIRouter()

    @router.get("/zones", tags=["vocabulary"])
    async def zones() -> list[dict[str, str]]:
        return [{"zone": z, "name": name, "time_zone": queries.zone_time_zone(z).key} for z, name in ZONES.items()]

    @router.get("/quantities", tags=["vocabulary"])
    async def quantities() -> list[dict[str, str]]:
        return [{"quantity": q, "unit": str(u)} for q, u in QUANTITIES.items()]

    @router.get("/datasets", tags=["vocabulary"])
    async def datasets() -> list[dict[str, Any]]:
        return [{"dataset": d, "provider": spec.provider, "interval_minutes": spec.interval_minutes,
                 "topic": topic_of[d], "live": d in config.live_datasets} for d, spec in DATASETS.items()]

    return router


def latest_router(cache: LatestCache, feeder: CacheFeeder | None) -> APIRouter:
    """The newest values, from the in-memory cache (never the warehouse)."""
    router = APIRouter()

    @router.get("/latest", tags=["latest"], response_model=LatestOut)
    async def latest(zone: Zone | None = None) -> dict[str, Any]:
        """The newest value per (zone, quantity), from the in-memory cache."""
        return {"values": [r.as_json() for r in cache.latest(zone.value if zone else None)],
                "cache_caught_up": feeder.caught_up.is_set() if feeder else False}

    @router.get("/zones/{zone}/latest", tags=["latest"], response_model=LatestOut)
    async def zone_latest(zone: ZonePath) -> dict[str, Any]:
        return await latest(zone)

    return router


def readings_router(warehouse: Warehouse) -> APIRouter:
    """Readings (observations) from the warehouse: a local day, or a UTC range a page at a time."""
    router = APIRouter()

    @router.get("/zones/{zone}/days/{day}", tags=["readings"], response_model=DayOut, responses=EXPORT_RESPONSES)
    def day(request: Request, zone: ZonePath,
            day: Annotated[date, PathParam(description="the zone's local calendar day")],
            fmt: OutputFormat, quantity: Quantity | None = None, dataset: Dataset | None = None,
            as_of: AsOf = None) -> Response:
        """Every reading of the zone's local day (Europe/Copenhagen or Europe/Paris); with
        ``as_of``, as the platform knew it at that time."""
        _check_year(day, "date")
        start, end = queries.local_day_bounds(zone.value, day)
        if fmt != "json":
            selection = queries.observation_selection(zone.value, start, end, quantity.value if quantity else None,
                                                      dataset.value if dataset else None, as_of=_as_of(as_of))
            return export_response(request, warehouse, selection, fmt, None,
                                   exports.filename(zone.value, day.isoformat(), fmt=fmt))
        items = queries.day_readings(warehouse, zone.value, day, quantity.value if quantity else None,
                                     dataset.value if dataset else None, _as_of(as_of))
        return _json({"zone": zone.value, "date": day.isoformat(), "time_zone": queries.zone_time_zone(zone.value).key,
                      "from_utc": iso_utc(start), "to_utc": iso_utc(end), "items": items})

    @router.get("/zones/{zone}/observations", tags=["readings"], response_model=ObservationsOut,
                responses=EXPORT_RESPONSES)
    def observations(request: Request, zone: ZonePath, from_: Annotated[datetime, Query(alias="from")],
                     to: Annotated[datetime, Query()], fmt: OutputFormat, limit: PageLimit = None,
                     cursor: Cursor = None, quantity: Quantity | None = None,
                     dataset: Dataset | None = None, as_of: AsOf = None) -> Response:
        """Readings with ``from <= interval start < to``, a page at a time: pass ``next_cursor``
        back as ``cursor`` until it is null. With ``as_of``: as the platform knew them then."""
        start, end = _utc(from_, "from"), _utc(to, "to")
        if start >= end:
            raise HTTPException(400, "'from' must be before 'to'")
        try:
            if fmt != "json":
                selection = queries.observation_selection(zone.value, start, end, quantity.value if quantity else None,
                                                          dataset.value if dataset else None, cursor, _as_of(as_of))
                return export_response(request, warehouse, selection, fmt, limit, exports.filename(
                    zone.value, "observations", iso_utc(start), iso_utc(end), fmt=fmt))
            limit = 1000 if limit is None else limit
            page = queries.range_page(warehouse, zone.value, start, end, limit, cursor,
                                      quantity.value if quantity else None, dataset.value if dataset else None,
                                      _as_of(as_of))
        except queries.BadCursor as exc:
            raise HTTPException(400, str(exc)) from None
        return _json({"zone": zone.value, "items": page.items, "next_cursor": page.next_cursor,
                      "truncated": page.next_cursor is not None})

    return router


def aggregates_router(warehouse: Warehouse) -> APIRouter:
    """The hourly/daily/weekly/monthly zone tables."""
    router = APIRouter()

    @router.get("/zones/{zone}/aggregates/{grain}", tags=["aggregates"], response_model=AggregatesOut,
                responses=EXPORT_RESPONSES)
    def aggregates(request: Request, zone: ZonePath, grain: Grain, fmt: OutputFormat,
                   from_: Annotated[date | None, Query(alias="from")] = None, to: date | None = None,
                   limit: PageLimit = None, cursor: Cursor = None, as_of: AsOf = None) -> Response:
        """Every column of ``zone_<grain>`` for the zone, between two local dates (inclusive;
        hourly rows are picked by their local date), a page at a time: pass ``next_cursor`` back
        as ``cursor`` until it is null. ``as_of`` (with ``from`` and ``to``; JSON): the rows
        rebuilt on the fly from what the platform knew then; the stored tables are not changed."""
        for value, name in ((from_, "from"), (to, "to")):
            if value is not None:
                _check_year(value, name)
        if from_ and to and from_ > to:
            raise HTTPException(400, "'from' must not be after 'to'")
        if as_of is not None:
            if from_ is None or to is None:
                raise HTTPException(400, "as_of needs both 'from' and 'to' (the rows are rebuilt on the fly)")
            if fmt != "json":
                raise HTTPException(406, "as_of aggregates are answered as JSON only")
            try:
                page = queries.aggregate_page_as_of(warehouse, grain.value, zone.value, from_, to, _as_of(as_of),
                                                    1000 if limit is None else limit, cursor)
            except queries.BadCursor as exc:
                raise HTTPException(400, str(exc)) from None
            return _json({"zone": zone.value, "grain": grain.value, "items": page.items,
                          "next_cursor": page.next_cursor, "truncated": page.next_cursor is not None})
        try:
            if fmt != "json":
                selection = queries.aggregate_selection(grain.value, zone.value, from_, to, cursor)
                return export_response(request, warehouse, selection, fmt, limit, exports.filename(
                    zone.value, grain.value, str(from_ or "start"), str(to or "end"), fmt=fmt))
            page = queries.aggregate_page(warehouse, grain.value, zone.value, from_, to,
                                          1000 if limit is None else limit, cursor)
        except queries.NoSuchTable as exc:
            raise HTTPException(404, str(exc)) from None
        except queries.BadCursor as exc:
            raise HTTPException(400, str(exc)) from None
        return _json({"zone": zone.value, "grain": grain.value, "items": page.items,
                      "next_cursor": page.next_cursor, "truncated": page.next_cursor is not None})

    @router.get("/zones/{zone}/aggregates/{grain}/{period}/explain", tags=["aggregates"])
    def explain(zone: ZonePath, grain: Grain, period: Annotated[str, PathParam(description=(
            "the cell: for hourly the hour's UTC start (2025-06-01T12:00:00Z), otherwise the period's first "
            "local date (day, week's Monday, month's 1st)"))]) -> dict[str, Any]:
        """What one aggregate cell was built from: the stored row, when and by which Dagster run it
        was built (and whether values landed after that), per field the datasets used (by
        ``DATASET_PRECEDENCE``) with intervals present/expected, refused values with their reasons,
        and the revisions of its inputs (each superseded value with its validity)."""
        from energy_orchestration.warehouse.explain import UnknownCell

        try:
            moment: date | datetime = (_utc(datetime.fromisoformat(period), "period") if grain.value == "hourly"
                                       else date.fromisoformat(period))
        except ValueError:
            raise HTTPException(400, f"period {period!r} is not an ISO "
                                     f"{'UTC hour start' if grain.value == 'hourly' else 'date'}") from None
        _check_year(moment, "period")
        try:
            return queries.explain(warehouse, zone.value, grain.value, moment)
        except UnknownCell as exc:
            raise HTTPException(400, str(exc)) from None

    return router


def freshness_router(config: ServerConfig, warehouse: Warehouse) -> APIRouter:
    """Per-dataset freshness, with the staleness rule of :func:`warehouse.status.staleness`."""
    router = APIRouter()

    @router.get("/freshness", tags=["freshness"])
    def freshness() -> dict[str, Any]:
        """Per dataset: last landed interval, last landing, consumer lag, and whether it is stale
        (nothing landed for ``max(ENERGY_API_STALE_AFTER_SECONDS, two intervals)``)."""
        now = utc_now().replace(tzinfo=None)
        landed = queries.freshness(warehouse)
        result = {}
        for name, spec in DATASETS.items():
            info = landed.get(name, {})
            last_landed = info.get("last_landed_utc")
            live = name in config.live_datasets
            stale, stale_after = staleness(live, last_landed, now, spec.interval_minutes, config.stale_after_seconds)
            result[name] = {
                "live": live, "stale": stale, "stale_after_seconds": stale_after,
                "stale_since_utc": iso_utc(last_landed) if stale and last_landed else None,
                "last_interval_utc": iso_utc(info["last_interval_utc"]) if info.get("last_interval_utc") else None,
                "last_landed_utc": iso_utc(last_landed) if last_landed else None,
                "consumer_lag": info.get("consumer_lag")}
        landing = describe_landing(read_landing_health(warehouse.path), now)
        return {"now_utc": iso_utc(now), "datasets": result,
                "landing": {"ok": landing["ok"], "message": landing["message"],
                            "stalled_since_utc": landing.get("stalled_since_utc"),
                            "last_error": landing.get("last_error")}}

    return router


SeriesGrain = StrEnum("SeriesGrain", {g: g for g in ("auto", *history.GRAINS)})


def dashboard_router(warehouse: Warehouse) -> APIRouter:
    """The dashboard's chart series."""
    router = APIRouter()

    @router.get("/zones/{zone}/dashboard", tags=["dashboard"])
    def dashboard(zone: ZonePath, hours: Annotated[int, Query(ge=1, le=168)] = 24) -> dict[str, Any]:
        """The dashboard's series for the last ``hours``: production per mode, consumption,
        exchanges, reported and computed CO2 intensity; ``now_utc`` is the platform clock's now,
        which the page's time axis ends at (not the browser's clock)."""
        now = utc_now().replace(tzinfo=None, second=0, microsecond=0)
        return {**queries.dashboard_series(warehouse, zone.value, now - timedelta(hours=hours)),
                "now_utc": iso_utc(now), "published": history.published_quantities().get(zone.value, {}),
                "co2_methods": history.co2_methods(zone.value)}

    @router.get("/zones/{zone}/series", tags=["dashboard"])
    def series(zone: ZonePath, from_: Annotated[date, Query(alias="from", description="first local date")],
               to: Annotated[date, Query(description="last local date (inclusive)")],
               grain: SeriesGrain = SeriesGrain.auto) -> Response:
        """The dashboard's history view: the zone's series over local dates ``from..to``, at a
        grain picked here (``auto``: minutes up to 2 days, ``zone_hourly`` up to 62, else
        ``zone_daily``; a forced grain covers at most 31, 366 or 3,660 days), with each
        quantity's coverage (% of hours, or days, present up to now), the datasets that publish
        it for the zone (``published``), so an empty series can say why, and the two CO2
        methods. Times are epoch milliseconds (UTC)."""
        for value, name in ((from_, "from"), (to, "to")):
            _check_year(value, name)
        if from_ > to:
            raise HTTPException(400, "'from' must not be after 'to'")
        picked = history.pick_grain(from_, to) if grain.value == "auto" else grain.value
        days = (to - from_).days + 1
        if days > history.MAX_DAYS[picked]:
            raise HTTPException(400, f"a {picked} series covers at most {history.MAX_DAYS[picked]} days; "
                                     f"this range has {days} (grain=auto picks the grain for the span)")
        now = utc_now().replace(tzinfo=None, second=0, microsecond=0)
        found = history.range_series(warehouse, zone.value, from_, to, picked, now)
        return _json({"zone": zone.value, "time_zone": queries.zone_time_zone(zone.value).key,
                      "from": from_.isoformat(), "to": to.isoformat(), "grain": found.grain,
                      "from_utc": iso_utc(found.start_utc), "to_utc": iso_utc(found.end_utc),
                      "now_utc": iso_utc(now), "buckets_expected": found.buckets_expected,
                      "series": found.series, "coverage": found.coverage,
                      "published": history.published_quantities().get(zone.value, {}),
                      "co2_methods": history.co2_methods(zone.value)})

    return router


def _problem_only_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's spec, with errors documented as ``application/problem+json`` only (the
    ``model`` in ERROR_RESPONSES also adds an ``application/json`` entry the API never sends)."""
    if app.openapi_schema is None:
        spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        for operation in (op for item in spec["paths"].values() for op in item.values()):
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45" and PROBLEM_JSON in response.get("content", {}):
                    response["content"].pop("application/json", None)
        app.openapi_schema = spec
    return app.openapi_schema


def live_router(config: ServerConfig, cache: LatestCache, hub: PushHub) -> APIRouter:
    """The WebSocket push (its own auth: browsers cannot set headers on WebSockets)."""
    router = APIRouter()

    @router.websocket(f"{API}/live")
    async def live(websocket: WebSocket, zone: str | None = None, token: str | None = None) -> None:
        """Push: first ``{"type": "snapshot", "messages": [...]}`` (the latest cached message per
        topic and zone), then one ``{"type": "observation", ...}`` per record as it arrives.
        Browsers cannot set headers on WebSockets, so the token may also come as ``?token=``."""
        if not config.auth.allows(token or bearer_token(websocket.headers.get("authorization"))):
            await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
            return
        if zone is not None and zone not in ZONES:
            await websocket.close(code=1008, reason="unknown zone")
            return
        await websocket.accept()
        client = hub.connect(zone)  # registered before the snapshot is taken: no gap, at most a repeat
        try:
            snapshot = [m for m in cache.snapshot() if hub.allowed(m) and client.wants(m)]
            await websocket.send_json({"type": "snapshot", "messages": snapshot})
            sender = asyncio.create_task(_send_queued(websocket, client.queue))
            receiver = asyncio.create_task(_until_closed(websocket))
            done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
                with suppress(asyncio.CancelledError, Exception):
                    await task
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            hub.disconnect(client)

    return router


def docs_router(app: FastAPI) -> APIRouter:
    """The dashboard page and the API docs, from assets served here, never a CDN: the platform
    runs without the internet."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @router.get("/docs")
    async def swagger_ui() -> Response:
        return get_swagger_ui_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - Swagger UI",
                                   swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
                                   swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
                                   swagger_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png")

    @router.get("/redoc")
    async def redoc() -> Response:
        return get_redoc_html(openapi_url=app.openapi_url or "/openapi.json", title=f"{app.title} - ReDoc",
                              redoc_js_url="/static/vendor/redoc.standalone.js",
                              redoc_favicon_url="/static/vendor/swagger-ui/favicon-32x32.png", with_google_fonts=False)

    return router


def _json(payload: dict[str, Any]) -> Response:
    """Large row lists serialised by orjson directly: FastAPI's response-model validation of
    10,000 rows cost more than the query. The response_model still documents the shape."""
    return Response(orjson.dumps(payload), media_type="application/json")


async def _send_queued(websocket: WebSocket, queue: asyncio.Queue[str]) -> None:
    while True:
        await websocket.send_text(await queue.get())


async def _until_closed(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
