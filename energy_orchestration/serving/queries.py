"""Every warehouse read the API makes, as plain functions over a :class:`Warehouse`.

Each opens a short read-only connection (the warehouse's shared lock) and finishes its result
inside it. User input only ever reaches SQL as a bound parameter; the few identifiers (aggregate
table and key column) come from fixed mappings here, never from the request.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from energy_orchestration.model import ZONE_TIME_ZONES
from energy_orchestration.serving.cache import Reading, iso_utc
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.schema import PERIOD_KEYS, PERIOD_TABLES
from energy_orchestration.warehouse.status import dataset_freshness

AGGREGATE_TABLES: dict[str, tuple[str, str]] = {
    "hourly": ("zone_hourly", "local_date"),
    **{grain: (table, PERIOD_KEYS[grain]) for grain, table in PERIOD_TABLES.items()},
}
"""grain -> (wide table, the local-date column a from/to range filters on), from the schema."""
AGGREGATE_ORDER: dict[str, str] = {"hourly": "hour_start_utc", **PERIOD_KEYS}

DASHBOARD_QUANTITY_FILTER = ("(starts_with(quantity, 'production_') OR starts_with(quantity, 'exchange_') "
                             "OR quantity IN ('consumption', 'co2_intensity_reported'))")


def zone_time_zone(zone: str) -> ZoneInfo:
    return ZoneInfo(ZONE_TIME_ZONES[zone])


def local_day_bounds(zone: str, day: date) -> tuple[datetime, datetime]:
    """The zone's local calendar day as a naive-UTC half-open range (23 or 25 h on DST days)."""
    tz = zone_time_zone(zone)
    start = datetime.combine(day, time(), tz)
    end = datetime.combine(day + timedelta(days=1), time(), tz)
    return _naive_utc(start), _naive_utc(end)


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def jsonable(value: Any) -> Any:
    """A DuckDB value as JSON: UTC times with Z, dates as ISO, NaN as null."""
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [{n: jsonable(v) for n, v in zip(names, row, strict=False)} for row in cursor.fetchall()]


# --- latest values (cache seed) ------------------------------------------------------------

def latest_readings(warehouse: Warehouse) -> list[Reading]:
    """The newest landed value per (dataset, zone, quantity): the cache's seed after a restart."""
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("""
            SELECT dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit, status
            FROM observations
            QUALIFY row_number() OVER (PARTITION BY dataset, zone, quantity ORDER BY interval_start_utc DESC) = 1
        """).fetchall()
    return [Reading(d, z, q, t, int(m), float(v), u, s) for d, z, q, t, m, v, u, s in rows]


# --- readings ------------------------------------------------------------------------------

ISO = "'%Y-%m-%dT%H:%M:%SZ'"
OBSERVATION_SELECT = f"""
    SELECT o.dataset, o.zone, o.quantity, strftime(o.interval_start_utc, {ISO}) AS interval_start_utc,
           o.interval_minutes, o.value, o.unit, o.status, strftime(o.fetched_at_utc, {ISO}) AS fetched_at_utc,
           strftime(o.landed_at_utc, {ISO}) AS landed_at_utc
    FROM observations o"""
"""Times are formatted by DuckDB (ISO, Z): converting 10,000 rows in Python took most of a day
query's time. Filters and ordering use the table's columns (``o.``), not the text."""


AS_OF_OBSERVATIONS = """(
    SELECT *, valid_from_utc AS landed_at_utc FROM observation_history
    WHERE valid_from_utc <= ? AND (valid_to_utc IS NULL OR valid_to_utc > ?)) o"""
"""The version of every value that was current at a time (the ``observation_history`` view's
as-of filter), shaped like ``observations``; ``landed_at_utc`` is when that version landed."""


def _observation_select(as_of: datetime | None) -> tuple[str, list[Any]]:
    """``OBSERVATION_SELECT`` over the current values, or over what the platform knew at ``as_of``
    (naive UTC), with the parameters that go first."""
    if as_of is None:
        return OBSERVATION_SELECT, []
    return OBSERVATION_SELECT.replace("FROM observations o", f"FROM {AS_OF_OBSERVATIONS}"), [as_of, as_of]


def _plain_rows(cursor: Any) -> list[dict[str, Any]]:
    """Rows that need no conversion (``OBSERVATION_SELECT``; ``value`` is NOT NULL, never NaN)."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=False)) for row in cursor.fetchall()]


def day_readings(warehouse: Warehouse, zone: str, day: date, quantity: str | None = None,
                 dataset: str | None = None, as_of: datetime | None = None) -> list[dict[str, Any]]:
    """The zone's local day; with ``as_of`` (naive UTC), the values the platform held then."""
    start, end = local_day_bounds(zone, day)
    select, first = _observation_select(as_of)
    with warehouse.connect(read_only=True) as db:
        cursor = db.execute(f"""{select}
            WHERE o.zone = ? AND o.interval_start_utc >= ? AND o.interval_start_utc < ?
              AND (?::VARCHAR IS NULL OR o.quantity = ?) AND (?::VARCHAR IS NULL OR o.dataset = ?)
            ORDER BY o.interval_start_utc, o.dataset, o.quantity""",
        first + [zone, start, end, quantity, quantity, dataset, dataset])
        return _plain_rows(cursor)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


class BadCursor(ValueError):
    """The pagination cursor was not one this API handed out."""


def encode_key(key: list[Any]) -> str:
    """A keyset cursor: the JSON values of the last row's sort key, URL-safe base64. The one
    cursor format of the API (observations and aggregates, JSON and CSV/Parquet pages)."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_key(cursor: str) -> list[Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, UnicodeDecodeError):
        key = None
    if not isinstance(key, list):
        raise BadCursor("invalid cursor: pass back the next_cursor of the previous page unchanged")
    return key


def encode_cursor(row: dict[str, Any]) -> str:
    return encode_key([row["interval_start_utc"], row["dataset"], row["quantity"]])


def decode_cursor(cursor: str) -> tuple[datetime, str, str]:
    try:
        moment, dataset, quantity = decode_key(cursor)
        return datetime.strptime(moment, "%Y-%m-%dT%H:%M:%SZ"), str(dataset), str(quantity)
    except (ValueError, TypeError):  # BadCursor is a ValueError
        raise BadCursor("invalid cursor: pass back the next_cursor of the previous page unchanged") from None


def range_page(warehouse: Warehouse, zone: str, start: datetime, end: datetime, limit: int,
               cursor: str | None = None, quantity: str | None = None, dataset: str | None = None,
               as_of: datetime | None = None) -> Page:
    """Readings in [start, end), ordered by (interval, dataset, quantity), keyset-paginated: a page
    costs the same however deep it is, and rows landing meanwhile do not shift later pages.
    With ``as_of`` (naive UTC): the values the platform held at that time (empty before anything landed)."""
    after = decode_cursor(cursor) if cursor else None
    select, first = _observation_select(as_of)
    params: list[Any] = [*first, zone, start, end, quantity, quantity, dataset, dataset]
    keyset = ""
    if after:
        keyset = """AND (o.interval_start_utc > ? OR (o.interval_start_utc = ? AND
                         (o.dataset > ? OR (o.dataset = ? AND o.quantity > ?))))"""
        params += [after[0], after[0], after[1], after[1], after[2]]
    with warehouse.connect(read_only=True) as db:
        cursor_ = db.execute(f"""{select}
            WHERE o.zone = ? AND o.interval_start_utc >= ? AND o.interval_start_utc < ?
              AND (?::VARCHAR IS NULL OR o.quantity = ?) AND (?::VARCHAR IS NULL OR o.dataset = ?) {keyset}
            ORDER BY o.interval_start_utc, o.dataset, o.quantity LIMIT ?""", params + [limit + 1])
        rows = _plain_rows(cursor_)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, encode_cursor(rows[-1]) if more else None)


# --- aggregates ----------------------------------------------------------------------------

class NoSuchTable(LookupError):
    """The aggregate table has not been created in this warehouse (yet)."""


@dataclass(frozen=True)
class Selection:
    """One read as SQL parts (``SELECT * FROM {source} WHERE {where} ORDER BY {order}``), so
    the JSON page and the CSV/Parquet export (``serving.exports``) run the same filter, order
    and keyset. ``key`` turns a row's JSON values into its cursor key."""

    source: str
    where: str
    params: list[Any]
    order: tuple[str, ...]
    table: str

    def sql(self, columns: str = "*") -> str:
        order = f" ORDER BY {', '.join(self.order)}" if self.order else ""
        return f"SELECT {columns} FROM {self.source} WHERE {self.where}{order}"


OBSERVATION_COLUMNS = ("dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit, status, "
                       "fetched_at_utc, landed_at_utc")
"""The observation endpoints' columns, in their order (as ``OBSERVATION_SELECT``), typed."""


def observation_selection(zone: str, start: datetime, end: datetime, quantity: str | None = None,
                          dataset: str | None = None, cursor: str | None = None,
                          as_of: datetime | None = None) -> Selection:
    """Readings in [start, end) ordered by (interval, dataset, quantity), after ``cursor``: the
    filter of ``range_page``/``day_readings`` for exports (same cursor, same order), over the
    current values or, with ``as_of`` (naive UTC), over what the platform knew then."""
    where = ("zone = ? AND interval_start_utc >= ? AND interval_start_utc < ? "
             "AND (?::VARCHAR IS NULL OR quantity = ?) AND (?::VARCHAR IS NULL OR dataset = ?)")
    source, first = (f"(SELECT {OBSERVATION_COLUMNS} FROM observations)", []) if as_of is None else \
        (f"(SELECT {OBSERVATION_COLUMNS} FROM {AS_OF_OBSERVATIONS})", [as_of, as_of])
    params: list[Any] = [*first, zone, start, end, quantity, quantity, dataset, dataset]
    if cursor:
        moment, after_dataset, after_quantity = decode_cursor(cursor)
        where += """ AND (interval_start_utc > ? OR (interval_start_utc = ? AND
                          (dataset > ? OR (dataset = ? AND quantity > ?))))"""
        params += [moment, moment, after_dataset, after_dataset, after_quantity]
    return Selection(source, where, params, ("interval_start_utc", "dataset", "quantity"), "observations")


def aggregate_selection(grain: str, zone: str, first: date | None, last: date | None,
                        cursor: str | None = None) -> Selection:
    """A zone's rows of the grain's wide table between two local dates (inclusive), ordered by
    the table's key (``hour_start_utc`` or the period's start date), after ``cursor``.

    ``SELECT *`` on purpose: the aggregates own their columns and the API passes them through.
    """
    table, date_column = AGGREGATE_TABLES[grain]
    order = AGGREGATE_ORDER[grain]
    where = f"zone = ? AND (?::DATE IS NULL OR {date_column} >= ?) AND (?::DATE IS NULL OR {date_column} <= ?)"
    params: list[Any] = [zone, first, first, last, last]
    if cursor:
        where += f" AND {order} > ?"
        params.append(_aggregate_key(grain, cursor))
    return Selection(table, where, params, (order,), table)


def _aggregate_key(grain: str, cursor: str) -> datetime | date:
    try:
        [value] = decode_key(cursor)
        if grain == "hourly":
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        return date.fromisoformat(value)
    except (ValueError, TypeError):
        raise BadCursor(f"invalid cursor for {grain} aggregates: pass back the next_cursor of the previous "
                        "page unchanged") from None


def cursor_after(selection: Selection, row: dict[str, Any]) -> str:
    """The cursor of the page that follows ``row`` (a row as the API answers it: JSON values)."""
    return encode_key([row[column] for column in selection.order])


def require_table(db: Any, table: str) -> None:
    exists = db.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                        [table]).fetchall()[0][0]
    if not exists:
        raise NoSuchTable(f"aggregate table {table} does not exist in this warehouse yet")


def aggregate_page(warehouse: Warehouse, grain: str, zone: str, first: date | None, last: date | None,
                   limit: int, cursor: str | None = None) -> Page:
    """All columns of the grain's wide table (``aggregate_selection``), keyset-paginated like
    ``range_page``: ``next_cursor`` is set exactly when rows beyond ``limit`` exist."""
    selection = aggregate_selection(grain, zone, first, last, cursor)
    with warehouse.connect(read_only=True) as db:
        require_table(db, selection.table)
        rows = _rows(db.execute(f"{selection.sql()} LIMIT ?", selection.params + [limit + 1]))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, cursor_after(selection, rows[-1]) if more else None)


def aggregate_page_as_of(warehouse: Warehouse, grain: str, zone: str, first: date, last: date, as_of: datetime,
                         limit: int, cursor: str | None = None) -> Page:
    """The zone's rows of the grain's table for local days ``first`` to ``last``, rebuilt on the fly
    from what the platform knew at ``as_of`` (naive UTC); the stored tables are not touched.
    Paginated with the aggregates' cursor, so a cut page says so and can be continued."""
    from energy_orchestration.warehouse.aggregates import zone_hourly_as_of, zone_periods_as_of

    after = _aggregate_key(grain, cursor) if cursor else None
    order = AGGREGATE_ORDER[grain]
    with warehouse.connect(read_only=True) as db:
        if grain == "hourly":
            start, end = local_day_bounds(zone, first)[0], local_day_bounds(zone, last)[1]
            if after is not None:
                start = max(start, after + timedelta(hours=1))
            rows = zone_hourly_as_of(db, zone, start, end, as_of) if start < end else []
        else:
            if after is not None:
                first = max(first, after + timedelta(days=1))
            rows = zone_periods_as_of(db, zone, grain, first, last, as_of) if first <= last else []
        names = [d[0] for d in db.description] if rows else []
    items = [{n: jsonable(v) for n, v in zip(names, row, strict=False)} for row in rows]
    more = len(items) > limit
    items = items[:limit]
    return Page(items, encode_key([items[-1][order]]) if more else None)


def explain(warehouse: Warehouse, zone: str, grain: str, period: date | datetime) -> dict[str, Any]:
    """:func:`warehouse.explain.explain_cell` as JSON-ready values (raises its ``UnknownCell``)."""
    from energy_orchestration.warehouse.explain import as_json, explain_cell

    with warehouse.connect(read_only=True) as db:
        return as_json(explain_cell(db, zone, grain, period))


# --- freshness -----------------------------------------------------------------------------

def freshness(warehouse: Warehouse) -> dict[str, dict[str, Any]]:
    """Per dataset, as ``energy status`` reports it (``warehouse.status.dataset_freshness``): the
    newest landed interval, when the consumer last landed a batch, and the lag it measured then."""
    with warehouse.connect(read_only=True) as db:
        frame = dataset_freshness(db)
    found = {}
    for row in frame.itertuples(index=False):
        found[row.dataset] = {"last_interval_utc": _moment(row.last_interval_utc),
                              "last_landed_utc": _moment(row.last_landed_utc),
                              "consumer_lag": None if pd.isna(row.consumer_lag) else int(row.consumer_lag)}
    return found


def _moment(value: Any) -> datetime | None:
    return None if pd.isna(value) else pd.Timestamp(value).to_pydatetime()


# --- dashboard -----------------------------------------------------------------------------

def dashboard_series(warehouse: Warehouse, zone: str, since: datetime) -> dict[str, Any]:
    """What the dashboard draws for a zone since a time: every production mode, consumption,
    exchanges and reported CO2 (mean over datasets per interval), plus computed CO2 intensity."""
    with warehouse.connect(read_only=True) as db:
        rows = db.execute(f"""
            SELECT quantity, interval_start_utc, avg(value), list(DISTINCT dataset)
            FROM observations
            WHERE zone = ? AND interval_start_utc >= ? AND {DASHBOARD_QUANTITY_FILTER}
            GROUP BY quantity, interval_start_utc ORDER BY interval_start_utc, quantity""", [zone, since]).fetchall()
        computed = db.execute("""
            SELECT interval_start_utc, avg(computed) FROM co2_intensity
            WHERE zone = ? AND interval_start_utc >= ? AND computed IS NOT NULL
            GROUP BY ALL ORDER BY 1""", [zone, since]).fetchall()
    series: dict[str, list[list[Any]]] = {}
    datasets: set[str] = set()
    for quantity, moment, value, contributing in rows:
        series.setdefault(quantity, []).append([iso_utc(moment), value])
        datasets.update(contributing)
    if computed:
        series["co2_intensity_computed"] = [[iso_utc(m), v] for m, v in computed]
    return {"zone": zone, "since_utc": iso_utc(since), "datasets": sorted(datasets), "series": series}
