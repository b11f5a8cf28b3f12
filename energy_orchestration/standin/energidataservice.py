"""Energi Data Service (api.energidataservice.dk) contract: paths, parameters, envelope.

The query engine never materialises a dataset's history. With the common
orderings (time ascending/descending) it works out the matching time slots
arithmetically, counts ``total`` without generating rows and generates only the
requested page. Filters on value columns or sorting by them need the values,
so those paths generate the whole (capped) range.

Datasets with a price-area column (``CO2Emis``, ``ElectricityProdex5MinRealtime``)
have one row per (slot, area): row ``r`` of a time-ordered result is slot
``r // areas`` and area ``r % areas`` (DK1 before DK2 within a timestamp, like the
real service), so a ``PriceArea`` filter keeps the arithmetic fast path.
"""

from __future__ import annotations

import json
import re
from calendar import monthrange
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from .http import (
    DataKey,
    FaultState,
    HttpError,
    Request,
    Response,
    Route,
    empty_response,
    json_response,
    parse_sort_keys,
)
from .synthetic_dk import (
    CO2_EMIS_FIELDS,
    ELECTRICITY_PRODEX_5MIN_FIELDS,
    POWER_SYSTEM_RIGHT_NOW_FIELDS,
    PRICE_AREAS,
    co2_emis_columns,
    columns_to_records,
    electricity_prodex_5min_columns,
    power_system_right_now_columns,
    unit_hash,
)

__all__ = [
    "BAD_VALUE_KINDS",
    "CO2_EMIS",
    "DANISH_TZ",
    "DATASETS",
    "ELECTRICITY_PRODEX_5MIN",
    "DatasetQuery",
    "DatasetSpec",
    "EnergiDataServiceApp",
    "IsoDuration",
    "MAX_MATERIALISED_ROWS",
    "ParamError",
    "apply_duration",
    "bad_rows",
    "parse_columns",
    "parse_duration",
    "parse_filter",
    "parse_limit_offset",
    "parse_query",
    "parse_sort",
    "parse_time_bound",
    "parse_timezone",
    "run_query",
]

DANISH_TZ = ZoneInfo("Europe/Copenhagen")
UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROS_PER_MINUTE = 60_000_000

#: Rows we are willing to generate at once (value filters, non-time sorts, huge pages).
MAX_MATERIALISED_ROWS = 1_000_000
#: Chunk size when scanning long ranges for fault-injected missing minutes.
_SCAN_CHUNK = 1 << 20
#: Rows returned when neither ``start`` nor ``limit`` is given (real API behaviour).
DEFAULT_LIMIT = 100


class ParamError(ValueError):
    """A bad query parameter; the message is sent verbatim with HTTP 400."""


# --------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the generic query engine needs to know about one dataset.

    ``generate`` maps an int64 array of minute indices (minutes since the Unix
    epoch, multiples of ``step_minutes``) to column arrays keyed by field name;
    for datasets with an ``area_column`` it takes a second, equally long array of
    indices into ``areas``. ``corruptible`` names the columns the
    ``bad_record_rate`` fault spoils, one per entry of :data:`BAD_VALUE_KINDS`.
    """

    name: str
    time_column: str
    local_time_column: str
    fields: tuple[str, ...]
    step_minutes: int
    generate: Callable[..., dict[str, np.ndarray]]
    description: str = ""
    area_column: str | None = None
    areas: tuple[str, ...] = ()
    corruptible: tuple[str, str, str] = ("SolarPower", "OnshoreWindPower", "OffshoreWindPower")

    @property
    def resolution(self) -> str:
        return f"PT{self.step_minutes}M"

    @property
    def rows_per_slot(self) -> int:
        return len(self.areas) if self.area_column else 1

    def columns(self, minutes: np.ndarray, areas: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Column arrays for rows (minute, area index); ``areas`` is ignored without an area column."""
        if self.area_column is None:
            return self.generate(minutes)
        return self.generate(minutes, np.zeros(minutes.shape, dtype=np.int64) if areas is None else areas)


POWER_SYSTEM_RIGHT_NOW = DatasetSpec(
    name="PowerSystemRightNow",
    time_column="Minutes1UTC",
    local_time_column="Minutes1DK",
    fields=POWER_SYSTEM_RIGHT_NOW_FIELDS,
    step_minutes=1,
    generate=power_system_right_now_columns,
    description="Near real-time production, exchange and balancing of the Danish power system "
    "(synthetic stand-in data).",
)

CO2_EMIS = DatasetSpec(
    name="CO2Emis",
    time_column="Minutes5UTC",
    local_time_column="Minutes5DK",
    fields=CO2_EMIS_FIELDS,
    step_minutes=5,
    generate=co2_emis_columns,
    description="CO2 emission intensity of electricity production per price area, 5-minute "
    "(synthetic stand-in data, consistent with PowerSystemRightNow).",
    area_column="PriceArea",
    areas=PRICE_AREAS,
    corruptible=("CO2Emission", "CO2Emission", "CO2Emission"),
)

ELECTRICITY_PRODEX_5MIN = DatasetSpec(
    name="ElectricityProdex5MinRealtime",
    time_column="Minutes5UTC",
    local_time_column="Minutes5DK",
    fields=ELECTRICITY_PRODEX_5MIN_FIELDS,
    step_minutes=5,
    generate=electricity_prodex_5min_columns,
    description="Production and exchanges per price area, 5-minute real-time "
    "(synthetic stand-in data, consistent with PowerSystemRightNow).",
    area_column="PriceArea",
    areas=PRICE_AREAS,
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec for spec in (POWER_SYSTEM_RIGHT_NOW, CO2_EMIS, ELECTRICITY_PRODEX_5MIN)
}


# --------------------------------------------------------------------------- time parameters


@dataclass(frozen=True)
class IsoDuration:
    """An ISO-8601 duration split into calendar (wall-clock) and exact parts."""

    years: int = 0
    months: int = 0
    days: int = 0  # weeks are folded in
    seconds: float = 0.0


_DURATION_RE = re.compile(
    r"P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<mi>\d+)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?",
    re.IGNORECASE,
)


def parse_duration(text: str) -> IsoDuration:
    """Parse ``P1Y2M3W4DT5H6M7.5S``-style durations (at least one component)."""
    match = _DURATION_RE.fullmatch(text.strip())
    if match is None or not any(match.group(g) for g in ("y", "mo", "w", "d", "h", "mi", "s")):
        raise ParamError(f"Invalid duration: '{text}'")
    if "T" in text.upper() and not any(match.group(g) for g in ("h", "mi", "s")):
        raise ParamError(f"Invalid duration: '{text}'")
    g = {k: v for k, v in match.groupdict().items() if v}
    return IsoDuration(
        years=int(g.get("y", 0)),
        months=int(g.get("mo", 0)),
        days=int(g.get("w", 0)) * 7 + int(g.get("d", 0)),
        seconds=int(g.get("h", 0)) * 3600 + int(g.get("mi", 0)) * 60 + float(g.get("s", "0").replace(",", ".")),
    )


def apply_duration(moment: datetime, duration: IsoDuration, sign: int, tz: tzinfo) -> datetime:
    """Shift an aware datetime; returns aware UTC.

    Calendar parts (Y/M/W/D) move the wall clock in ``tz`` so ``StartOfDay-P1D``
    is yesterday's local midnight even across a DST change; the time part
    (H/M/S) is exact elapsed time.
    """
    local = moment.astimezone(tz).replace(tzinfo=None)
    if duration.years or duration.months:
        total = local.year * 12 + (local.month - 1) + sign * (duration.years * 12 + duration.months)
        year, month = divmod(total, 12)
        month += 1
        if not 1 <= year <= 9999:
            raise ParamError("Date out of range")
        local = local.replace(year=year, month=month, day=min(local.day, monthrange(year, month)[1]))
    if duration.days:
        local = local + timedelta(days=sign * duration.days)
    shifted = _localize(local, tz).astimezone(UTC)
    return shifted + timedelta(seconds=sign * duration.seconds)


def _localize(naive: datetime, tz: tzinfo) -> datetime:
    """Attach ``tz``; an ambiguous autumn time means its first (summer-time) occurrence."""
    return naive.replace(tzinfo=tz, fold=0)


_ABSOLUTE_RE = re.compile(
    r"(?P<y>\d{4})(?:-(?P<mo>\d{2})(?:-(?P<d>\d{2})(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?)?)?"
)
_RELATIVE_RE = re.compile(
    r"(?P<base>now|startofday|startofmonth|startofyear)\s*(?:(?P<sign>[+\- ])\s*(?P<dur>P\S*))?",
    re.IGNORECASE,
)


def parse_time_bound(value: str, *, name: str, now: datetime, tz: tzinfo) -> datetime:
    """Parse a ``start``/``end`` value into an aware UTC datetime.

    Absolute values are wall-clock times in ``tz`` (Danish local time unless the
    client sent ``timezone=UTC``); relative keywords are evaluated in ``tz`` too.
    A literal ``+`` that was not percent-encoded arrives as a space and is
    treated as ``+``.
    """
    text = value.strip()
    absolute = _ABSOLUTE_RE.fullmatch(text)
    try:
        if absolute:
            g = absolute.groupdict()
            naive = datetime(
                int(g["y"]),
                int(g["mo"] or 1),
                int(g["d"] or 1),
                int(g["h"] or 0),
                int(g["mi"] or 0),
                int(g["s"] or 0),
            )
            return _localize(naive, tz).astimezone(UTC)
        relative = _RELATIVE_RE.fullmatch(text)
        if relative:
            local_now = now.astimezone(tz)
            base = relative.group("base").lower()
            if base == "now":
                moment = now.astimezone(UTC)
            else:
                midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
                if base == "startofmonth":
                    midnight = midnight.replace(day=1)
                elif base == "startofyear":
                    midnight = midnight.replace(month=1, day=1)
                moment = _localize(midnight, tz).astimezone(UTC)
            if relative.group("dur"):
                sign = -1 if relative.group("sign") == "-" else 1
                moment = apply_duration(moment, parse_duration(relative.group("dur")), sign, tz)
            return moment
    except (ValueError, OverflowError) as exc:
        raise ParamError(f"Invalid {name}: '{value}'") from exc
    raise ParamError(f"Invalid {name}: '{value}'")


def parse_timezone(value: str | None) -> tzinfo:
    """``timezone=UTC`` switches bound parsing to UTC; the default (and ``dk``) is Danish time."""
    if value is None or value.strip() == "" or value.strip().lower() == "dk":
        return DANISH_TZ
    if value.strip().lower() == "utc":
        return UTC
    raise ParamError(f"Invalid timezone: '{value}'")


# --------------------------------------------------------------------------- other parameters


def parse_filter(raw: str | None, fields: Sequence[str]) -> dict[str, list[Any]]:
    """``{"Col": [v1, v2]}`` or ``{"Col": v}`` -> column to allowed values (equality only)."""
    if raw is None or raw.strip() == "":
        return {}
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ParamError(f"Invalid filter: '{raw}' is not valid JSON") from exc
    if not isinstance(parsed, dict):
        raise ParamError(f"Invalid filter: '{raw}' must be a JSON object")
    result: dict[str, list[Any]] = {}
    for column, values in parsed.items():
        if column not in fields:
            raise ParamError(f"Invalid column {column}")
        result[column] = list(values) if isinstance(values, list) else [values]
    return result


def parse_columns(raw: str | None, fields: Sequence[str]) -> tuple[str, ...]:
    """``A,B,C`` -> those fields, in the order requested; empty or absent means all."""
    if raw is None or raw.strip() == "":
        return tuple(fields)
    selected: list[str] = []
    for part in raw.split(","):
        column = part.strip()
        if not column:
            continue
        if column not in fields:
            raise ParamError(f"Invalid column {column}")
        if column not in selected:
            selected.append(column)
    return tuple(selected) if selected else tuple(fields)


def parse_sort(raw: str | None, fields: Sequence[str]) -> list[tuple[str, bool]]:
    """``Col``, ``Col desc``, ``Col asc`` (comma-separated for several keys) -> [(column, descending)]."""
    return parse_sort_keys(raw, fields, lambda _part: ParamError(f"Invalid sort: '{raw}'"),
                           lambda column: ParamError(f"Invalid column {column}"))


def parse_limit_offset(raw: str | None, name: str) -> int | None:
    """Non-negative integer or ``None`` when absent."""
    if raw is None:
        return None
    text = raw.strip()
    if not re.fullmatch(r"\+?\d+", text):
        raise ParamError(f"Invalid {name}: '{raw}'")
    return int(text)


@dataclass(frozen=True)
class DatasetQuery:
    """A validated ``/dataset/{name}`` request."""

    start: datetime | None = None  # aware UTC, inclusive
    end: datetime | None = None  # aware UTC, exclusive
    filters: dict[str, list[Any]] = field(default_factory=dict)
    raw_filter: str | None = None
    columns: tuple[str, ...] = ()
    sort: list[tuple[str, bool]] = field(default_factory=list)
    offset: int = 0
    limit: int | None = None  # as given; None = not given

    @property
    def effective_limit(self) -> int:
        """0 means "all rows"; without start and limit the real API returns 100 rows."""
        if self.limit is not None:
            return self.limit
        return 0 if self.start is not None else DEFAULT_LIMIT


def parse_query(params: Mapping[str, str], spec: DatasetSpec, now: datetime) -> DatasetQuery:
    """Validate all parameters; raises :class:`ParamError` with the client-facing message."""
    tz = parse_timezone(params.get("timezone"))
    start = parse_time_bound(params["start"], name="start", now=now, tz=tz) if "start" in params else None
    end = parse_time_bound(params["end"], name="end", now=now, tz=tz) if "end" in params else None
    raw_filter = params.get("filter")
    return DatasetQuery(
        start=start,
        end=end,
        filters=parse_filter(raw_filter, spec.fields),
        raw_filter=raw_filter if raw_filter is not None and raw_filter.strip() else None,
        columns=parse_columns(params.get("columns"), spec.fields),
        sort=parse_sort(params.get("sort"), spec.fields),
        offset=parse_limit_offset(params.get("offset"), "offset") or 0,
        limit=parse_limit_offset(params.get("limit"), "limit"),
    )


# --------------------------------------------------------------------------- query engine


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _parse_timestamp_value(value: Any, column: str) -> datetime:
    if not isinstance(value, str):
        raise ParamError(f"Invalid filter value for {column}: {json.dumps(value)}")
    match = _ABSOLUTE_RE.fullmatch(value.strip())
    if not match or not match.group("h"):
        raise ParamError(f"Invalid filter value for {column}: {json.dumps(value)}")
    g = match.groupdict()
    try:
        return datetime(int(g["y"]), int(g["mo"]), int(g["d"]), int(g["h"]), int(g["mi"]), int(g["s"] or 0))
    except ValueError as exc:
        raise ParamError(f"Invalid filter value for {column}: {json.dumps(value)}") from exc


def _time_filter_minutes(spec: DatasetSpec, column: str, values: list[Any]) -> np.ndarray:
    """Minute indices named by a filter on the UTC or local time column.

    A local time in the repeated autumn hour names two minutes; one in the
    skipped spring hour names none (it never appears in the data).
    """
    minutes: set[int] = set()
    for value in values:
        naive = _parse_timestamp_value(value, column)
        if column == spec.time_column:
            candidates = [naive.replace(tzinfo=UTC)]
        else:
            candidates = []
            for fold in (0, 1):
                aware = naive.replace(tzinfo=DANISH_TZ, fold=fold)
                utc = aware.astimezone(UTC)
                if utc.astimezone(DANISH_TZ).replace(tzinfo=None) == naive:
                    candidates.append(utc)
        for moment in candidates:
            micros = _micros(moment)
            if micros % (_MICROS_PER_MINUTE * spec.step_minutes) == 0:
                minutes.add(micros // _MICROS_PER_MINUTE)
    return np.array(sorted(minutes), dtype=np.int64)


def _numeric_filter_values(column: str, values: list[Any]) -> np.ndarray:
    numbers = []
    for value in values:
        if isinstance(value, bool):
            raise ParamError(f"Invalid filter value for {column}: {json.dumps(value)}")
        if isinstance(value, (int, float)):
            numbers.append(float(value))
            continue
        try:
            numbers.append(float(str(value)))
        except ValueError as exc:
            raise ParamError(f"Invalid filter value for {column}: {json.dumps(value)}") from exc
    return np.array(numbers, dtype=np.float64)


#: What a "bad" row (fault ``bad_record_rate``) gets in the column ``spec.corruptible[k]``;
#: rows rotate through the kinds by their position in the dataset.
BAD_VALUE_KINDS: tuple[str, ...] = ("negative", "not_a_number", "huge")


def bad_rows(spec: DatasetSpec, minutes: np.ndarray, areas: np.ndarray, rate: float) -> np.ndarray:
    """Per row, the index into :data:`BAD_VALUE_KINDS` of its deliberate error, or -1.

    Decided by a hash of the row's position in the dataset (slot x areas + area), so the
    same rows are bad on every request, and raising the rate only adds bad rows.
    """
    ordinal = np.asarray(minutes, dtype=np.int64) // spec.step_minutes * spec.rows_per_slot
    if spec.area_column is not None:
        ordinal = ordinal + np.asarray(areas, dtype=np.int64)
    if rate <= 0:
        return np.full(ordinal.shape, -1, dtype=np.int64)
    bad = unit_hash(ordinal, f"bad-record:{spec.name}") < rate
    return np.where(bad, ordinal % len(BAD_VALUE_KINDS), -1)


def _spoil(spec: DatasetSpec, columns: dict[str, np.ndarray], minutes: np.ndarray, areas: np.ndarray,
           rate: float) -> dict[str, np.ndarray]:
    """Fault injection on a page: negative value, the string "n/a", or 1e9 in bad rows.

    Applied after filtering and sorting (those see the clean values), only to the page.
    """
    if rate <= 0 or minutes.size == 0:
        return columns
    kinds = bad_rows(spec, minutes, areas, rate)
    if not (kinds >= 0).any():
        return columns
    spoiled = dict(columns)
    for kind, column in enumerate(spec.corruptible):
        hit = kinds == kind
        if column not in spoiled or not hit.any():
            continue
        clean = np.asarray(columns[column], dtype=np.float64)
        values = np.asarray(spoiled[column]).astype(object)
        if BAD_VALUE_KINDS[kind] == "negative":
            values[hit] = (-(np.abs(clean[hit]) + 10.0)).tolist()
        elif BAD_VALUE_KINDS[kind] == "not_a_number":
            values[hit] = "n/a"
        else:
            values[hit] = 1e9
        spoiled[column] = values
    return spoiled


CORRECTION_AFTER_MINUTES = 2
"""A corrected row changes this many minutes after its slot ended: inside the live fetch's
``ENERGY_FETCH_OVERLAP_MINUTES`` re-read, so the live sensor itself lands the correction."""


def corrected_rows(spec: DatasetSpec, minutes: np.ndarray, areas: np.ndarray, now: datetime, rate: float,
                   after_minutes: int = CORRECTION_AFTER_MINUTES) -> np.ndarray:
    """Per row, whether the provider has corrected it by ``now``: a deterministic subset (a hash of
    the row's position, like :func:`bad_rows`) of the rows whose slot ended ``after_minutes`` ago."""
    minutes = np.asarray(minutes, dtype=np.int64)
    if rate <= 0 or minutes.size == 0:
        return np.zeros(minutes.shape, dtype=bool)
    ordinal = minutes // spec.step_minutes * spec.rows_per_slot
    if spec.area_column is not None:
        ordinal = ordinal + np.asarray(areas, dtype=np.int64)
    due = minutes + spec.step_minutes + after_minutes <= _micros(now) // 60_000_000
    return due & (unit_hash(ordinal, f"correction:{spec.name}") < rate)


def _correct(spec: DatasetSpec, columns: dict[str, np.ndarray], minutes: np.ndarray, areas: np.ndarray,
             now: datetime, rate: float) -> dict[str, np.ndarray]:
    """The provider's corrections of recent minutes (Energi Data Service revises published rows):
    in corrected rows the value columns :attr:`DatasetSpec.corruptible` names move by up to ±3 %
    (at least 0.5 in their unit, so the change survives rounding), derived from the row, never random."""
    hit = corrected_rows(spec, minutes, areas, now, rate)
    if not hit.any():
        return columns
    ordinal = np.asarray(minutes, dtype=np.int64) * 10 + np.asarray(areas, dtype=np.int64)
    corrected = dict(columns)
    for column in dict.fromkeys(spec.corruptible):
        if column not in corrected:
            continue
        clean = np.asarray(corrected[column], dtype=np.float64)
        shift = 0.03 * (unit_hash(ordinal, f"correction-{column}") * 2.0 - 1.0) * clean
        shift = np.where(np.abs(shift) < 0.5, np.where(shift < 0, -0.5, 0.5), shift)
        corrected[column] = np.where(hit & np.isfinite(clean), np.round(clean + shift, 2) + 0.0, clean)
    return corrected


def _selected_areas(spec: DatasetSpec, q: DatasetQuery) -> np.ndarray:
    """Indices into ``spec.areas`` a query keeps (all without a filter on the area column)."""
    if spec.area_column is None:
        return np.zeros(1, dtype=np.int64)
    allowed = q.filters.get(spec.area_column)
    if allowed is None:
        return np.arange(len(spec.areas), dtype=np.int64)
    named = {value for value in allowed if isinstance(value, str)}
    return np.array([i for i, area in enumerate(spec.areas) if area in named], dtype=np.int64)


def _present(minutes: np.ndarray, missing_rate: float) -> np.ndarray:
    """Fault injection: a deterministic per-minute coin decides which minutes were never published.

    Raising the rate only removes more minutes (the kept set shrinks monotonically).
    """
    if missing_rate <= 0:
        return np.ones(minutes.shape, dtype=bool)
    return unit_hash(minutes, "missing-minutes") >= missing_rate


@dataclass
class _Window:
    """Slot range [lo, hi) in units of ``step`` minutes."""

    lo: int
    hi: int
    step: int

    def __len__(self) -> int:
        return max(0, self.hi - self.lo)

    def minutes(self, lo: int | None = None, hi: int | None = None) -> np.ndarray:
        lo = self.lo if lo is None else lo
        hi = self.hi if hi is None else hi
        return np.arange(lo, hi, dtype=np.int64) * self.step


def _window(spec: DatasetSpec, q: DatasetQuery, *, now: datetime, history_start: datetime,
            lag_seconds: float) -> _Window:
    """Slots that may be served: from history start (or ``start``) up to the last complete slot."""
    slot_us = _MICROS_PER_MINUTE * spec.step_minutes
    newest_exclusive = (_micros(now) - int(lag_seconds * 1_000_000)) // slot_us  # current slot is incomplete
    lo = _ceil_div(_micros(history_start), slot_us)
    hi = newest_exclusive
    if q.start is not None:
        lo = max(lo, _ceil_div(_micros(q.start), slot_us))
    if q.end is not None:
        hi = min(hi, _ceil_div(_micros(q.end), slot_us))
    return _Window(lo, max(lo, hi), spec.step_minutes)


def _page_bounds(total: int, offset: int, limit: int) -> tuple[int, int]:
    start = min(offset, total)
    stop = total if limit == 0 else min(total, offset + limit)
    return start, stop


def _check_page_size(rows: int) -> None:
    if rows > MAX_MATERIALISED_ROWS:
        raise ParamError(
            f"Result too large: {rows} rows requested; use limit/offset (at most {MAX_MATERIALISED_ROWS} per request)"
        )


def _scan_window(window: _Window, descending: bool, offset: int, limit: int,
                 missing_rate: float) -> tuple[int, np.ndarray]:
    """Count present minutes and pick the page, chunk by chunk (bounded memory)."""
    total = 0
    page: list[np.ndarray] = []
    wanted = None if limit == 0 else limit
    taken = 0
    bounds = range(window.lo, window.hi, _SCAN_CHUNK)
    chunks = [(b, min(b + _SCAN_CHUNK, window.hi)) for b in bounds]
    for lo, hi in reversed(chunks) if descending else chunks:
        minutes = window.minutes(lo, hi)
        kept = minutes[_present(minutes, missing_rate)]
        if descending:
            kept = kept[::-1]
        skip = min(max(0, offset - total), kept.size)
        total += kept.size
        if wanted is None or taken < wanted:
            chunk_page = kept[skip:] if wanted is None else kept[skip : skip + (wanted - taken)]
            taken += chunk_page.size
            _check_page_size(taken)
            page.append(chunk_page)
    return total, np.concatenate(page) if page else np.empty(0, dtype=np.int64)


def run_query(
    spec: DatasetSpec,
    q: DatasetQuery,
    *,
    now: datetime,
    history_start: datetime,
    lag_seconds: float = 0.0,
    missing_rate: float = 0.0,
    bad_record_rate: float = 0.0,
    correction_rate: float = 0.0,
) -> dict[str, Any]:
    """Answer a validated query with the real API's envelope (``total`` counts all matches);
    ``correction_rate``: share of rows corrected a few minutes after publication (:func:`_correct`)."""
    window = _window(spec, q, now=now, history_start=history_start, lag_seconds=lag_seconds)
    time_columns = (spec.time_column, spec.local_time_column)

    # Filters on the time columns name explicit minutes; intersect them with the window.
    explicit: np.ndarray | None = None
    for column in time_columns:
        if column in q.filters:
            named = _time_filter_minutes(spec, column, q.filters[column])
            explicit = named if explicit is None else np.intersect1d(explicit, named)
    if explicit is not None:
        slots = explicit // spec.step_minutes
        explicit = explicit[(slots >= window.lo) & (slots < window.hi)]
        explicit = explicit[_present(explicit, missing_rate)]

    # Rows per slot: one, or one per selected price area (in area order within a slot).
    areas = _selected_areas(spec, q)
    n = int(areas.size)
    value_filters = {c: v for c, v in q.filters.items() if c not in time_columns and c != spec.area_column}
    fast_sort = not q.sort or (len(q.sort) == 1 and q.sort[0][0] == spec.time_column)
    descending = not q.sort or q.sort[0][1]
    limit = q.effective_limit

    if not value_filters and fast_sort:
        empty = np.empty(0, dtype=np.int64)
        if n == 0:
            total, page_minutes, page_areas = 0, empty, empty
        elif explicit is not None:
            ordered = explicit[::-1] if descending else explicit
            total = int(ordered.size) * n
            start, stop = _page_bounds(total, q.offset, limit)
            rows = np.arange(start, stop, dtype=np.int64)
            page_minutes, page_areas = ordered[rows // n], areas[rows % n]
        elif missing_rate > 0:
            slot_offset = q.offset // n
            slot_limit = 0 if limit == 0 else _ceil_div(q.offset + limit, n) - slot_offset
            slot_total, slot_page = _scan_window(window, descending, slot_offset, slot_limit, missing_rate)
            total = slot_total * n
            skip = q.offset - slot_offset * n
            stop = None if limit == 0 else skip + limit
            page_minutes = np.repeat(slot_page, n)[skip:stop]
            page_areas = np.tile(areas, slot_page.size)[skip:stop]
        else:
            total = len(window) * n
            start, stop = _page_bounds(total, q.offset, limit)
            _check_page_size(stop - start)
            rows = np.arange(start, stop, dtype=np.int64)
            slots = window.hi - 1 - rows // n if descending else window.lo + rows // n
            page_minutes, page_areas = slots * spec.step_minutes, areas[rows % n]
        _check_page_size(int(page_minutes.size))
        if not page_minutes.size:
            return _envelope(spec, q, total, [])
        columns = _correct(spec, spec.columns(page_minutes, page_areas), page_minutes, page_areas, now,
                           correction_rate)
        selected = _spoil(spec, {f: columns[f] for f in q.columns}, page_minutes, page_areas, bad_record_rate)
        return _envelope(spec, q, total, columns_to_records(selected, q.columns))

    # Slow path: values are needed to filter or sort, so generate the whole (capped) candidate set.
    reason = next(iter(value_filters), None)
    what = f"filter on {reason}" if reason else f"sort on {', '.join(c for c, _ in q.sort)}"
    candidate_count = (explicit.size if explicit is not None else len(window)) * n
    if candidate_count > MAX_MATERIALISED_ROWS:
        raise ParamError(f"Range too large for {what}: {candidate_count} rows (max {MAX_MATERIALISED_ROWS}); "
                         "narrow start/end")
    slot_minutes = explicit if explicit is not None else window.minutes()
    if explicit is None and missing_rate > 0:
        slot_minutes = slot_minutes[_present(slot_minutes, missing_rate)]
    minutes = np.repeat(slot_minutes, n)
    row_areas = np.tile(areas, slot_minutes.size)
    columns = (_correct(spec, spec.columns(minutes, row_areas), minutes, row_areas, now, correction_rate)
               if minutes.size else {f: np.empty(0) for f in spec.fields})
    mask = np.ones(minutes.size, dtype=bool)
    for column, values in value_filters.items():
        mask &= np.isin(columns[column], _numeric_filter_values(column, values))
    order = np.flatnonzero(mask)
    sort_keys = q.sort or [(spec.time_column, True)]
    # np.lexsort: last key is primary; the minute itself (ascending), then the area, break ties.
    lex: list[np.ndarray] = [row_areas[order], minutes[order]]
    for column, desc in reversed(sort_keys):
        values = columns[column][order]
        ranks = np.unique(values, return_inverse=True)[1].astype(np.int64)
        lex.append(-ranks if desc else ranks)
    order = order[np.lexsort(lex)] if order.size else order
    total = int(order.size)
    start, stop = _page_bounds(total, q.offset, limit)
    chosen = order[start:stop]
    selected = _spoil(spec, {f: columns[f][chosen] for f in q.columns}, minutes[chosen], row_areas[chosen],
                      bad_record_rate)
    return _envelope(spec, q, total, columns_to_records(selected, q.columns))


def _envelope(spec: DatasetSpec, q: DatasetQuery, total: int, records: list[dict]) -> dict[str, Any]:
    """Key order and optional keys exactly as the real service sends them."""
    envelope: dict[str, Any] = {"total": total}
    if q.limit is not None:
        envelope["limit"] = q.limit
    if q.raw_filter is not None:
        envelope["filters"] = q.raw_filter
    if q.sort:
        envelope["sort"] = ", ".join(f"{c} {'DESC' if d else 'ASC'}" for c, d in q.sort)
    envelope["dataset"] = spec.name
    envelope["records"] = records
    return envelope


# --------------------------------------------------------------------------- HTTP app


class EnergiDataServiceApp:
    """Routes for ``/dataset/{name}`` and ``/meta/dataset/{name}``.

    Dataset names match case-insensitively (as the real service does) and the
    envelope always carries the canonical spelling.
    """

    def __init__(
        self,
        *,
        now: Callable[[], datetime],
        history_start: datetime,
        publication_lag_seconds: float = 0.0,
        faults: FaultState | None = None,
        datasets: Mapping[str, DatasetSpec] = DATASETS,
        correction_rate: float = 0.0,
    ) -> None:
        self._now = now
        self._correction_rate = float(correction_rate)
        self._history_start = history_start if history_start.tzinfo else history_start.replace(tzinfo=UTC)
        self._lag = float(publication_lag_seconds)
        self._faults = faults
        self._datasets = {name.lower(): spec for name, spec in datasets.items()}

    def lookup(self, name: str) -> DatasetSpec | None:
        return self._datasets.get(name.lower())

    def routes(self) -> list[Route]:
        def data_key(match: re.Match[str]) -> DataKey:
            spec = self.lookup(match.group("name"))
            return DataKey(spec.name, True) if spec else DataKey(match.group("name"), False)

        return [
            Route("GET", re.compile(r"/dataset/(?P<name>[^/]+)"), self._dataset, data_key=data_key),
            Route("GET", re.compile(r"/meta/dataset/(?P<name>[^/]+)"), self._meta),
        ]

    def _current_now(self) -> datetime:
        now = self._now()
        return now if now.tzinfo else now.replace(tzinfo=UTC)

    def _dataset(self, request: Request, match: re.Match[str]) -> Response:
        spec = self.lookup(match.group("name"))
        if spec is None:
            raise HttpError(404, "dataset not found")
        now = self._current_now()
        faults = self._faults.config if self._faults else None
        try:
            query = parse_query(request.query, spec, now)
            envelope = run_query(
                spec,
                query,
                now=now,
                history_start=self._history_start,
                lag_seconds=self._lag,
                missing_rate=faults.missing_minutes_rate if faults else 0.0,
                bad_record_rate=faults.bad_record_rate if faults else 0.0,
                correction_rate=self._correction_rate,
            )
        except ParamError as exc:
            raise HttpError(400, str(exc)) from exc
        return json_response(envelope)

    def _meta(self, _: Request, match: re.Match[str]) -> Response:
        spec = self.lookup(match.group("name"))
        if spec is None:
            return empty_response(204)  # the real service answers unknown names with 204
        sample = spec.columns(np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
        time_columns = (spec.time_column, spec.local_time_column)
        return json_response(
            {
                "dataset": spec.name,
                "description": spec.description,
                "resolution": spec.resolution,
                "timeColumn": spec.time_column,
                "localTimeColumn": spec.local_time_column,
                "columns": [
                    {
                        "name": f,
                        "type": (
                            "datetime" if f in time_columns
                            else "string" if sample[f].dtype.kind == "U"
                            else "number"
                        ),
                    }
                    for f in spec.fields
                ],
            }
        )
