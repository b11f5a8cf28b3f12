"""ODRÉ / Opendatasoft Explore API v2.1 stand-in for RTE éCO2mix (external-apis.md §2).

Serves ``/api/explore/v2.1/catalog/datasets/{id}/records`` (envelope ``{"total_count",
"results"}``, ``limit`` <= 100, ``offset + limit`` <= 10,000) and ``.../exports/json`` (a bare
array, no row cap) for ``eco2mix-regional-tr``, ``eco2mix-national-tr``,
``eco2mix-regional-cons-def`` and ``eco2mix-national-cons-def``, with ``select``, ``where`` (the ODSQL subset below),
``order_by``, ``limit``, ``offset``, ``refine`` and ``timezone``. Errors are Opendatasoft JSON
bodies ``{"error_code": "ODSQLError" | "InvalidRESTParameterError", "message": ...}``.

ODSQL subset: conditions joined by ``and`` (parentheses allowed), each one of
``date_heure <op> date'…'`` (``>= > <= < =``), ``date_heure in [date'A'..date'B']`` (``]``/``[``
for open ends), and equality on the text fields ``date`` (Paris local day), ``heure``,
``nature``, ``code_insee_region`` (``'11'`` or ``11``), ``libelle_region`` and ``perimetre``.
A range comparison on a text field, an unknown field, ``or``/``not`` and filters on value
fields answer 400 ODSQLError.

Rows never exist as a table: a request's matching rows are (quarter-hour, region) pairs worked
out arithmetically from the constraints and only the requested page is generated
(:mod:`synthetic_fr`). The time model mirrors the real service:

- real-time sets cover the last ``realtime_days`` days (from UTC midnight); older windows are
  empty there and served by ``eco2mix-regional-cons-def`` / ``eco2mix-national-cons-def``
  (30-min step);
- a quarter-hour appears once it has ended plus ``publication_lag_minutes``;
- real-time rows older than ``consolidation_days`` (or ``consolidation_hours``, as the demo sets
  it: ``ENERGY_STANDIN_CONSOLIDATION_HOURS``) become ``Données consolidées`` with slightly
  revised values (same key); cons-def rows before 1 January of last year are ``définitives``;
- the national set also holds future rows up to the end of the Paris day with only
  ``prevision_j``/``prevision_j1`` (measured fields null).

Rate limiting is optional (``rate_limit_per_minute``, off by default) and has its own
limiter, so the Energi Data Service gateway limit never applies to these paths; a 429 carries
``X-RateLimit-*`` and ``Retry-After`` headers. Injected faults (latency, errors) from the
shared :class:`FaultState` apply here as well.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from .http import DataKey, FaultState, RateLimiter, Request, Response, Route, json_response, parse_sort_keys
from .synthetic_dk import unit_hash
from .synthetic_fr import (
    NATIONAL_FIELDS,
    NATURE_LABELS,
    REGION_CODES,
    REGIONAL_FIELDS,
    REGIONS,
    national_columns,
    paris_offset_minutes,
    regional_columns,
)

__all__ = ["API_PREFIX", "DATASETS", "OdreApp", "OdreDatasetSpec", "OdreStandinConfig", "QueryError", "parse_where"]

API_PREFIX = "/api/explore/v2.1/catalog/datasets"
PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US_PER_MINUTE = 60_000_000
_US_PER_DAY = 1440 * _US_PER_MINUTE

MAX_LIMIT = 100
MAX_OFFSET_PLUS_LIMIT = 10_000
DEFAULT_LIMIT = 10
#: Rows the stand-in generates at once for a sort on a value field (real service: no limit).
MAX_SORTED_ROWS = 200_000
#: Rows one export may hold here (the real exports have no cap; this bounds memory).
MAX_EXPORT_ROWS = 400_000


@dataclass
class OdreStandinConfig:
    rate_limit_per_minute: float = 0.0  # per dataset and client IP; 0 disables
    publication_lag_minutes: float = 8.0
    realtime_days: int = 60
    consolidation_days: int = 30
    consolidation_hours: float = 0.0
    """When > 0, real-time rows are consolidated this many hours after their slot instead of after
    ``consolidation_days`` (the demo: revisions within hours, not a month)."""

    def consolidation_minutes(self) -> int:
        return int(self.consolidation_hours * 60) if self.consolidation_hours > 0 else self.consolidation_days * 1440


@dataclass(frozen=True)
class OdreDatasetSpec:
    name: str
    step_minutes: int
    regional: bool
    realtime: bool  # False: consolidated/definitive history (cons-def)
    fields: tuple[str, ...]
    title: str = ""


REGIONAL_TR = OdreDatasetSpec("eco2mix-regional-tr", 15, True, True, REGIONAL_FIELDS,
                              "éCO2mix régional temps réel (synthetic stand-in data)")
NATIONAL_TR = OdreDatasetSpec("eco2mix-national-tr", 15, False, True, NATIONAL_FIELDS,
                              "éCO2mix national temps réel (synthetic stand-in data)")
REGIONAL_CONS_DEF = OdreDatasetSpec("eco2mix-regional-cons-def", 30, True, False,
                                    tuple(f for f in REGIONAL_FIELDS if f != "column_68"),
                                    "éCO2mix régional consolidé et définitif (synthetic stand-in data)")
DATASETS: dict[str, OdreDatasetSpec] = {s.name: s for s in (REGIONAL_TR, NATIONAL_TR, REGIONAL_CONS_DEF)}
NATIONAL_CONS_DEF = OdreDatasetSpec("eco2mix-national-cons-def", 30, False, False, NATIONAL_FIELDS,
                                    "éCO2mix national consolidé et définitif (synthetic stand-in data)")
DATASETS[NATIONAL_CONS_DEF.name] = NATIONAL_CONS_DEF

_TEXT_FIELDS = frozenset({"code_insee_region", "libelle_region", "nature", "date", "heure", "perimetre"})
_REGION_BY_NAME = {r.name.lower(): i for i, r in enumerate(REGIONS)}


class QueryError(ValueError):
    """A client error; ``error_code`` and the message are sent as the JSON body with 400."""

    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status


def _odsql(message: str) -> QueryError:
    return QueryError("ODSQLError", f"ODSQL query is malformed: {message}")


def _param(message: str) -> QueryError:
    return QueryError("InvalidRESTParameterError", message)


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# --------------------------------------------------------------------------- ODSQL subset


@dataclass
class Constraints:
    """The conjunction of a ``where``/``refine``: a UTC range plus sets, all optional."""

    lo_us: int | None = None  # inclusive
    hi_us: int | None = None  # exclusive
    regions: set[int] | None = None  # region indexes
    natures: set[str] | None = None
    hours: set[str] | None = None
    empty: bool = False

    def time_range(self, lo: int | None, hi: int | None) -> None:
        if lo is not None:
            self.lo_us = lo if self.lo_us is None else max(self.lo_us, lo)
        if hi is not None:
            self.hi_us = hi if self.hi_us is None else min(self.hi_us, hi)

    def restrict(self, name: str, values: set[Any]) -> None:
        current = getattr(self, name)
        setattr(self, name, values if current is None else current & values)


_TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<date>date\s*(?P<dq>['"])(?P<dv>.*?)(?P=dq))
     |'(?P<s1>(?:[^']|'')*)'
     |"(?P<s2>(?:[^"]|"")*)"
     |(?P<num>-?\d+(?:\.\d+)?)(?![\w.])
     |(?P<op>>=|<=|!=|<>|\.\.|=|<|>|\[|\]|\(|\)|,)
     |(?P<word>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # date | str | num | op | word
    text: str


def _tokenize(where: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    position = 0
    text = where.rstrip()
    while position < len(text):
        match = _TOKEN_RE.match(text, position)
        if match is None or match.end() == position:
            raise _odsql(f"unexpected character at position {position}: {text[position:position + 20]!r}")
        position = match.end()
        if match.group("date") is not None:
            tokens.append(_Tok("date", match.group("dv")))
        elif match.group("s1") is not None:
            tokens.append(_Tok("str", match.group("s1").replace("''", "'")))
        elif match.group("s2") is not None:
            tokens.append(_Tok("str", match.group("s2").replace('""', '"')))
        elif match.group("num") is not None:
            tokens.append(_Tok("num", match.group("num")))
        elif match.group("op") is not None:
            tokens.append(_Tok("op", match.group("op")))
        else:
            tokens.append(_Tok("word", match.group("word").strip("`")))
    return tokens


def parse_instant(text: str, tz: tzinfo) -> int:
    """A date literal as UTC microseconds; a value without offset is wall time in ``tz``."""
    value = text.strip()
    # an unencoded "+" in a query string arrives as a space: "…T00:00:00 00:00"
    value = re.sub(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", value)
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    partial = re.fullmatch(r"(\d{4})(?:[-/](\d{2}))?", value)
    try:
        if partial:
            moment = datetime(int(partial.group(1)), int(partial.group(2) or 1), 1)
        else:
            moment = datetime.fromisoformat(value.replace("/", "-"))
    except ValueError:
        raise _odsql(f"invalid date literal date'{text}'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz, fold=0)
    return _us(moment.astimezone(UTC))


def _local_day_range(day_text: str) -> tuple[int, int]:
    """``YYYY-MM-DD`` (Paris) -> [local midnight, next local midnight) in UTC microseconds."""
    try:
        day = datetime.strptime(day_text.strip().replace("/", "-"), "%Y-%m-%d")
    except ValueError:
        return 0, 0  # no row has that date
    start = day.replace(tzinfo=PARIS)
    end = (day + timedelta(days=1)).replace(tzinfo=PARIS)
    return _us(start.astimezone(UTC)), _us(end.astimezone(UTC))


def _apply_equality(spec: OdreDatasetSpec, c: Constraints, name: str, value: _Tok, tz: tzinfo) -> None:
    text = value.text
    if name == "date_heure":
        if value.kind not in ("date", "str"):
            raise _odsql(f"date_heure must be compared with a date literal, not {text!r}")
        instant = parse_instant(text, tz)
        c.time_range(instant, instant + 1)
    elif name == "date":
        c.time_range(*_local_day_range(text))
    elif name == "heure":
        c.restrict("hours", {text.strip()})
    elif name == "nature":
        c.restrict("natures", {text.strip()})
    elif name == "code_insee_region":
        code = text.strip()
        c.restrict("regions", {REGION_CODES.index(code)} if code in REGION_CODES else set())
    elif name == "libelle_region":
        index = _REGION_BY_NAME.get(text.strip().lower())
        c.restrict("regions", set() if index is None else {index})
    elif name == "perimetre":
        if text.strip().lower() != "france":
            c.empty = True
    else:
        raise _odsql(f"the stand-in filters only on date_heure, date, heure, nature, code_insee_region, "
                     f"libelle_region and perimetre, not on {name!r}")


def _apply_range(c: Constraints, name: str, op: str, value: _Tok, tz: tzinfo) -> None:
    if name in _TEXT_FIELDS:
        raise _odsql(f"range comparison {op!r} is not allowed on text field {name!r}")
    if name != "date_heure":
        raise _odsql(f"the stand-in supports range filters on date_heure only, not on {name!r}")
    if value.kind not in ("date", "str"):
        raise _odsql(f"date_heure must be compared with a date literal, not {value.text!r}")
    instant = parse_instant(value.text, tz)
    bounds = {">=": (instant, None), ">": (instant + 1, None), "<=": (None, instant + 1), "<": (None, instant)}
    c.time_range(*bounds[op])


def parse_where(where: str | None, spec: OdreDatasetSpec, tz: tzinfo, into: Constraints | None = None) -> Constraints:
    """The supported ODSQL subset as :class:`Constraints`; anything else raises ODSQLError."""
    c = into or Constraints()
    if where is None or not where.strip():
        return c
    tokens = _tokenize(where)
    position = 0

    def peek(offset: int = 0) -> _Tok | None:
        return tokens[position + offset] if position + offset < len(tokens) else None

    def take() -> _Tok:
        nonlocal position
        token = peek()
        if token is None:
            raise _odsql("unexpected end of expression")
        position += 1
        return token

    def field_name() -> str:
        token = take()
        if token.kind != "word":
            raise _odsql(f"expected a field name, found {token.text!r}")
        if token.text.lower() in ("or", "not"):
            raise _odsql(f"'{token.text}' is not supported by the stand-in (only 'and')")
        if token.text not in spec.fields:
            raise _odsql(f"Unknown field: {token.text}")
        return token.text

    def condition() -> None:
        token = peek()
        if token is not None and token.kind == "op" and token.text == "(":
            take()
            conjunction()
            closing = take()
            if closing.text != ")":
                raise _odsql("missing ')'")
            return
        name = field_name()
        op = take()
        if op.kind == "word" and op.text.lower() == "in":
            opening = take()
            if opening.text not in ("[", "]"):
                raise _odsql("expected '[' after 'in'")
            low = take()
            if take().text != "..":
                raise _odsql("expected '..' in range")
            high = take()
            closing = take()
            if closing.text not in ("[", "]"):
                raise _odsql("expected ']' to close the range")
            if name in _TEXT_FIELDS:
                raise _odsql(f"range comparison 'in' is not allowed on text field {name!r}")
            _apply_range(c, name, ">=" if opening.text == "[" else ">", low, tz)
            _apply_range(c, name, "<=" if closing.text == "]" else "<", high, tz)
            return
        if op.kind != "op" or op.text not in ("=", ">=", ">", "<=", "<"):
            raise _odsql(f"unsupported operator {op.text!r}")
        value = take()
        if value.kind not in ("date", "str", "num"):
            raise _odsql(f"expected a value after {op.text!r}, found {value.text!r}")
        if op.text == "=":
            _apply_equality(spec, c, name, value, tz)
        else:
            _apply_range(c, name, op.text, value, tz)

    def conjunction() -> None:
        condition()
        while True:
            token = peek()
            if token is None or (token.kind == "op" and token.text == ")"):
                return
            if token.kind == "word" and token.text.lower() == "and":
                take()
                condition()
                continue
            if token.kind == "word" and token.text.lower() in ("or", "not"):
                raise _odsql(f"'{token.text}' is not supported by the stand-in (only 'and')")
            raise _odsql(f"unexpected {token.text!r}")

    conjunction()
    if position != len(tokens):
        raise _odsql(f"unexpected {tokens[position].text!r}")
    return c


def apply_refine(refine: str | None, spec: OdreDatasetSpec, tz: tzinfo, c: Constraints) -> None:
    """``refine=field:value``: a facet equality (``date_heure:2026/10/26`` = that day in ``tz``)."""
    if refine is None or not refine.strip():
        return
    name, sep, value = refine.partition(":")
    name = name.strip()
    if not sep or name not in spec.fields:
        raise _param(f"Invalid value for refine API parameter: {refine!r} (expected field:value on a known field)")
    if name == "date_heure":
        parts = value.strip().replace("-", "/").split("/")
        try:
            numbers = [int(p) for p in parts]
            start = datetime(numbers[0], numbers[1] if len(numbers) > 1 else 1, numbers[2] if len(numbers) > 2 else 1)
        except (ValueError, IndexError):
            raise _param(f"Invalid value for refine API parameter: {refine!r}") from None
        if len(numbers) >= 3:
            end = start + timedelta(days=1)
        elif len(numbers) == 2:
            end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        else:
            end = start.replace(year=start.year + 1)
        c.time_range(_us(start.replace(tzinfo=tz).astimezone(UTC)), _us(end.replace(tzinfo=tz).astimezone(UTC)))
        return
    try:
        _apply_equality(spec, c, name, _Tok("str", value), tz)
    except QueryError as exc:
        raise _param(f"Invalid value for refine API parameter: {exc.message}") from None


def parse_order_by(raw: str | None, spec: OdreDatasetSpec) -> list[tuple[str, bool]]:
    return parse_sort_keys(raw, spec.fields, lambda part: _odsql(f"invalid order_by expression {part!r}"),
                           lambda field: _odsql(f"Unknown field: {field}"))


def parse_select(raw: str | None, spec: OdreDatasetSpec) -> tuple[str, ...]:
    if raw is None or not raw.strip() or raw.strip() == "*":
        return spec.fields
    selected: list[str] = []
    for part in raw.split(","):
        name = part.strip().strip("`")
        if not name:
            continue
        if name == "*":
            selected.extend(f for f in spec.fields if f not in selected)
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise _odsql(f"the stand-in supports plain field names in select only, not {name!r}")
        if name not in spec.fields:
            raise _odsql(f"Unknown field: {name}")
        if name not in selected:
            selected.append(name)
    return tuple(selected) or spec.fields


def _int_param(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw.strip() == "":
        return default
    if not re.fullmatch(r"[+-]?\d+", raw.strip()):
        raise _param(f"Invalid value for {name} API parameter: {raw!r} is not an integer")
    return int(raw.strip())


def parse_timezone(raw: str | None) -> tuple[tzinfo, bool]:
    """(zone, is_utc); unknown names are a 400."""
    if raw is None or not raw.strip() or raw.strip().upper() in ("UTC", "ETC/UTC", "Z"):
        return UTC, True
    try:
        return ZoneInfo(raw.strip()), False
    except (ZoneInfoNotFoundError, ValueError):
        raise _param(f"Invalid value for timezone API parameter: unknown time zone {raw!r}") from None


# --------------------------------------------------------------------------- the row engine


@dataclass
class _Rows:
    """The matching rows of one request as (slot, region) index pairs, in response order."""

    slots: np.ndarray  # matching slot numbers (slot * step = minutes since epoch), ascending
    regions: np.ndarray  # matching region indexes, ascending code order (national: [-1])

    @property
    def total(self) -> int:
        return int(self.slots.size * self.regions.size)


class OdreApp:
    """Routes for the Explore API v2.1 records and exports of the three éCO2mix datasets."""

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        history_start: datetime,
        faults: FaultState | None = None,
        config: OdreStandinConfig | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        datasets: dict[str, OdreDatasetSpec] = DATASETS,
    ) -> None:
        self._now = now
        self._history_start = history_start if history_start.tzinfo else history_start.replace(tzinfo=UTC)
        self._faults = faults
        self.config = config or OdreStandinConfig()
        self.limiter = RateLimiter(self.config.rate_limit_per_minute, monotonic=monotonic)
        self._sleep = sleep
        self._datasets = datasets

    def routes(self) -> list[Route]:
        # known=False: these paths skip the Energi Data Service gateway limit (1/min/dataset);
        # _gate applies this service's own optional limit and the shared faults instead.
        def data_key(match: re.Match[str]) -> DataKey:
            return DataKey(match.group("id"), False)

        base = re.escape(API_PREFIX)
        return [
            Route("GET", re.compile(rf"{base}/(?P<id>[^/]+)/records"), self._records, data_key=data_key),
            Route("GET", re.compile(rf"{base}/(?P<id>[^/]+)/exports/(?P<format>[^/]+)"), self._exports,
                  data_key=data_key),
            Route("GET", re.compile(rf"{base}/(?P<id>[^/]+)"), self._metadata),
        ]

    # ----------------------------------------------------------------- HTTP handlers

    def _records(self, request: Request, match: re.Match[str]) -> Response:
        return self._serve(request, match.group("id"), export=False)

    def _exports(self, request: Request, match: re.Match[str]) -> Response:
        if match.group("format").lower() != "json":
            return _error(QueryError("InvalidRESTParameterError",
                                     f"export format {match.group('format')!r} is not served by the stand-in "
                                     "(json only)"))
        return self._serve(request, match.group("id"), export=True)

    def _metadata(self, _: Request, match: re.Match[str]) -> Response:
        spec = self._datasets.get(match.group("id"))
        if spec is None:
            return _not_found(match.group("id"))
        return json_response({"dataset_id": spec.name, "metas": {"default": {"title": spec.title}},
                              "fields": [{"name": f, "type": _field_type(f)} for f in spec.fields]})

    def _serve(self, request: Request, dataset: str, *, export: bool) -> Response:
        spec = self._datasets.get(dataset)
        if spec is None:
            return _not_found(dataset)
        blocked = self._gate(request, spec)
        if blocked is not None:
            return blocked
        try:
            payload = self.query(spec, request.query, export=export)
        except QueryError as exc:
            return _error(exc)
        return json_response(payload, headers=self._limit_headers())

    def _gate(self, request: Request, spec: OdreDatasetSpec) -> Response | None:
        retry_after = self.limiter.acquire((spec.name, request.client_ip))
        if retry_after is not None:
            reset = self._current_now() + timedelta(seconds=retry_after)
            return json_response(
                {"errorcode": 10002, "reset_time": reset.strftime("%Y-%m-%dT%H:%M:%SZ"), "limit_time_unit": "minute",
                 "call_limit": int(self.limiter.per_minute),
                 "error": "Too many requests on the domain. Please contact the domain administrator."},
                status=429,
                headers={**self._limit_headers(), "X-RateLimit-Remaining": "0",
                         "X-RateLimit-Reset": str(int(reset.timestamp())), "Retry-After": str(retry_after)},
            )
        if self._faults is not None:
            latency = self._faults.latency_seconds
            if latency > 0:
                self._sleep(latency)
            return self._faults.injected_failure()
        return None

    def _limit_headers(self) -> dict[str, str]:
        if self.limiter.per_minute <= 0:
            return {}
        return {"X-RateLimit-Limit": str(int(math.ceil(self.limiter.per_minute)))}

    # ----------------------------------------------------------------- query

    def _current_now(self) -> datetime:
        now = self._now()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def query(self, spec: OdreDatasetSpec, params: dict[str, str] | Any, *, export: bool) -> Any:
        """Answer validated parameters: the records envelope, or a bare array for exports."""
        tz, is_utc = parse_timezone(params.get("timezone"))
        limit = _int_param(params.get("limit"), "limit", -1 if export else DEFAULT_LIMIT)
        offset = _int_param(params.get("offset"), "offset", 0)
        if offset < 0:
            raise _param(f"Invalid value for offset API parameter: {offset} was found but offset >= 0 is expected.")
        if export:
            if limit < -1:
                raise _param(f"Invalid value for limit API parameter: {limit} was found but limit >= -1 is expected.")
        else:
            if not 0 <= limit <= MAX_LIMIT:
                raise _param(f"Invalid value for limit API parameter: {limit} was found but "
                             f"-1 <= limit <= {MAX_LIMIT} is expected.")
            if offset + limit > MAX_OFFSET_PLUS_LIMIT:
                raise _param(f"Invalid value for offset API parameter: offset + limit must be lower than or equal "
                             f"to {MAX_OFFSET_PLUS_LIMIT} ({offset + limit} was found). Use the exports endpoint "
                             "for large extracts.")
        select = parse_select(params.get("select"), spec)
        order = parse_order_by(params.get("order_by"), spec)
        constraints = parse_where(params.get("where"), spec, tz)
        apply_refine(params.get("refine"), spec, tz, constraints)

        now = self._current_now()
        rows = self._matching(spec, constraints, now)
        total = rows.total
        start = min(offset, total)
        stop = total if limit < 0 else min(total, offset + limit)
        if export and stop - start > MAX_EXPORT_ROWS:
            raise _param(f"the stand-in exports at most {MAX_EXPORT_ROWS} rows at once ({stop - start} matched); "
                         "narrow the where clause")
        slots, regions = self._page(spec, rows, order, start, stop, now)
        records = self._records_for(spec, slots, regions, select, tz, is_utc, now)
        if export:
            return records
        return {"total_count": total, "results": records}

    def _windows(self, spec: OdreDatasetSpec, now: datetime) -> tuple[int, int, int]:
        """(first slot, end slot exclusive, first unpublished slot) for the dataset at ``now``."""
        step_us = spec.step_minutes * _US_PER_MINUTE
        now_us = _us(now)
        realtime_start = (now_us // _US_PER_DAY - self.config.realtime_days) * _US_PER_DAY
        if not spec.realtime:
            lo = _ceil_div(_us(self._history_start), step_us)
            hi = _ceil_div(realtime_start, step_us)
            return lo, max(lo, hi), max(lo, hi)
        lag_us = int(self.config.publication_lag_minutes * _US_PER_MINUTE)
        published = (now_us - step_us - lag_us) // step_us + 1  # slot s is out once s + step + lag <= now
        lo = _ceil_div(realtime_start, step_us)
        hi = published
        if not spec.regional:  # forecast-only rows up to the end of the Paris day
            local = now.astimezone(PARIS)
            midnight = datetime(local.year, local.month, local.day) + timedelta(days=1)
            hi = max(hi, _ceil_div(_us(midnight.replace(tzinfo=PARIS).astimezone(UTC)), step_us))
        return lo, max(lo, hi), max(lo, published)

    def _status(self, spec: OdreDatasetSpec, minutes: np.ndarray, now: datetime) -> np.ndarray:
        """0 real time, 1 consolidated, 2 definitive, per slot start (minutes since epoch)."""
        if spec.realtime:
            boundary = _us(now) // _US_PER_MINUTE - self.config.consolidation_minutes()
            return np.where(minutes < boundary, 1, 0).astype(np.int64)
        definitive_before = _us(datetime(now.year - 1, 1, 1, tzinfo=UTC)) // _US_PER_MINUTE
        return np.where(minutes < definitive_before, 2, 1).astype(np.int64)

    def _matching(self, spec: OdreDatasetSpec, c: Constraints, now: datetime) -> _Rows:
        lo, hi, _ = self._windows(spec, now)
        step_us = spec.step_minutes * _US_PER_MINUTE
        if c.lo_us is not None:
            lo = max(lo, _ceil_div(c.lo_us, step_us))
        if c.hi_us is not None:
            hi = min(hi, _ceil_div(c.hi_us, step_us))
        regions = np.arange(len(REGION_CODES), dtype=np.int64) if spec.regional else np.array([-1], dtype=np.int64)
        if c.regions is not None:
            regions = regions[np.isin(regions, sorted(c.regions))] if spec.regional else regions
        if c.empty or hi <= lo or regions.size == 0:
            return _Rows(np.empty(0, dtype=np.int64), regions)
        slots = np.arange(lo, hi, dtype=np.int64)
        if c.natures is not None or c.hours is not None:
            minutes = slots * spec.step_minutes
            keep = np.ones(slots.size, dtype=bool)
            if c.natures is not None:
                labels = np.array(NATURE_LABELS)[self._status(spec, minutes, now)]
                keep &= np.isin(labels, sorted(c.natures))
            if c.hours is not None:
                local = minutes + paris_offset_minutes(minutes)
                text = np.datetime_as_string(local.astype("datetime64[m]"), unit="m")
                keep &= np.isin(np.array([s[11:16] for s in text.tolist()]), sorted(c.hours))
            slots = slots[keep]
        return _Rows(slots, regions)

    def _page(self, spec: OdreDatasetSpec, rows: _Rows, order: list[tuple[str, bool]], start: int, stop: int,
              now: datetime) -> tuple[np.ndarray, np.ndarray]:
        """Slots and regions of rows ``start..stop`` in the requested order."""
        if stop <= start:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        n_regions = rows.regions.size
        secondary = order[1:] if order else []
        fast = not order or (order[0][0] == "date_heure" and (
            not spec.regional or not secondary or (len(secondary) == 1 and secondary[0][0] == "code_insee_region")))
        if fast:
            k = np.arange(start, stop, dtype=np.int64)
            slot_rank, within = np.divmod(k, n_regions)
            descending = not order or order[0][1]
            slots = rows.slots[rows.slots.size - 1 - slot_rank] if descending else rows.slots[slot_rank]
            if not spec.regional:
                return slots, np.full(slots.size, -1, dtype=np.int64)
            if secondary:
                ordered = rows.regions[::-1] if secondary[0][1] else rows.regions
                return slots, ordered[within]
            # No order within a timestamp was asked for: the service promises none, so regions
            # come in a per-timestamp shuffled (deterministic) order.
            shuffle = unit_hash(slots[:, None] * 100 + rows.regions[None, :], "odre-region-order")
            return slots, rows.regions[np.argsort(shuffle, axis=1)][np.arange(slots.size), within]
        # Sorting on other fields needs their values: generate every matching row (bounded).
        if rows.total > MAX_SORTED_ROWS:
            raise _odsql(f"the stand-in sorts at most {MAX_SORTED_ROWS} rows by {order[0][0]!r} "
                         f"({rows.total} matched); narrow the where clause or order by date_heure")
        all_slots = np.repeat(rows.slots, n_regions)
        all_regions = np.tile(rows.regions, rows.slots.size)
        columns = self._columns(spec, all_slots, all_regions, now)
        lex: list[np.ndarray] = [all_regions, all_slots]  # tie-breakers: time, then region
        for name, desc in reversed(order):
            ranks = all_slots if name == "date_heure" else _sort_ranks(columns[name])
            lex.append(-ranks if desc else ranks)
        order_index = np.lexsort(lex)[start:stop]
        return all_slots[order_index], all_regions[order_index]

    def _columns(self, spec: OdreDatasetSpec, slots: np.ndarray, regions: np.ndarray, now: datetime) -> dict[str, list]:
        minutes = slots * spec.step_minutes
        status = self._status(spec, minutes, now)
        if spec.regional:
            return regional_columns(minutes, regions, status)
        _, _, published = self._windows(spec, now)
        return national_columns(minutes, status, slots >= published)

    def _records_for(self, spec: OdreDatasetSpec, slots: np.ndarray, regions: np.ndarray, select: tuple[str, ...],
                     tz: tzinfo, is_utc: bool, now: datetime) -> list[dict[str, Any]]:
        if slots.size == 0:
            return []
        columns = self._columns(spec, slots, regions, now)
        rate = self._faults.config.bad_record_rate if self._faults is not None else 0.0
        if rate > 0:
            columns = _spoil(spec, columns, slots, regions, rate)
        if not is_utc and "date_heure" in select:
            columns["date_heure"] = [
                (_EPOCH + timedelta(minutes=int(m))).astimezone(tz).isoformat()
                for m in (slots * spec.step_minutes).tolist()]
        lists = [columns[f] for f in select]
        return [dict(zip(select, row, strict=False)) for row in zip(*lists, strict=False)]


#: Field spoiled in a "bad" row (fault ``bad_record_rate``), by the row's kind, and how.
_BAD_VALUES: tuple[tuple[str, Any], ...] = (("nucleaire", -500), ("solaire", "n/a"), ("consommation", 1e9))


def _spoil(spec: OdreDatasetSpec, columns: dict[str, list], slots: np.ndarray, regions: np.ndarray,
           rate: float) -> dict[str, list]:
    """Fault injection on a page, like the Energi Data Service stand-in's: the same rows are bad
    on every request (hash of the row), each with one invalid value. Fields that are null in
    that row (future forecast-only rows) are left alone."""
    ordinal = slots * 100 + (regions if spec.regional else 0)
    bad = np.flatnonzero(unit_hash(ordinal, f"bad-record:{spec.name}") < rate)
    if bad.size == 0:
        return columns
    spoiled = dict(columns)
    for position in bad.tolist():
        field, value = _BAD_VALUES[int(ordinal[position]) % len(_BAD_VALUES)]
        if field in spoiled and spoiled[field][position] is not None:
            if spoiled[field] is columns[field]:
                spoiled[field] = list(columns[field])
            spoiled[field][position] = value
    return spoiled


def _sort_ranks(values: list[Any]) -> np.ndarray:
    """Integer ranks of one column's values: numbers numerically (numeric strings too), other
    text lexically; nulls rank first."""
    present = np.array([v is not None for v in values], dtype=bool)
    try:
        keys: np.ndarray = np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)
    except (TypeError, ValueError):
        keys = np.array(["" if v is None else str(v) for v in values])
    ranks = np.unique(keys, return_inverse=True)[1].astype(np.int64).ravel()
    return np.where(present, ranks + 1, 0)


def _field_type(name: str) -> str:
    if name == "date_heure":
        return "datetime"
    if name in _TEXT_FIELDS or name == "column_68":
        return "text"
    return "double" if name.startswith(("tco_", "tch_")) else "int"


def _error(exc: QueryError) -> Response:
    return json_response({"error_code": exc.error_code, "message": exc.message}, status=exc.status)


def _not_found(dataset: str) -> Response:
    return json_response({"error_code": "NotFound", "message": f"Unknown dataset: {dataset}"}, status=404)
