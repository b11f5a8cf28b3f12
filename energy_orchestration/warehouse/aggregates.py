"""Aggregate SQL: wide per-zone tables by UTC hour, then by the zone's local day, week and month.

Each build is one DELETE + one INSERT … SELECT over any range, so a backfill of many
partitions costs one statement, and rebuilding a partition replaces it (idempotent). Call the
builders inside a transaction so readers never see a range half-deleted.

Why wide: the questions people ask ("what was DK1's mix and CO2 yesterday?") read one row per
zone and period; a long table would need a pivot in every query, dashboard and API call.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import duckdb

from energy_orchestration.model import QUANTITIES, RENEWABLE_MODES, ZONE_TIME_ZONES, utc_now
from energy_orchestration.warehouse.schema import PERIOD_KEYS, PERIOD_TABLES

DATASET_PRECEDENCE: tuple[str, ...] = (
    "eco2mix-regional-cons-def",      # consolidated beats real-time for the same region and hour
    "eco2mix-regional-tr",
    "eco2mix-national-cons-def",      # likewise for France as a whole
    "eco2mix-national-tr",
    "ElectricityProdex5MinRealtime",  # production per price area and type
    "CO2Emis",
    "PowerSystemRightNow",
)
"""When two datasets carry the same (zone, quantity, hour), the first one listed wins, so each
field of a zone table comes from exactly one dataset (named in ``zone_hourly.datasets``)."""


@dataclass(frozen=True)
class BuildStats:
    rows: int
    zones: int
    periods: int
    coverage_pct: float
    """Mean coverage of the rows built (present field-minutes / expected field-minutes)."""


def _values(rows: list[tuple[str, ...]]) -> str:
    """A small constant table as SQL ``VALUES``; only ever fed our own vocabulary, never input."""
    return ", ".join("(" + ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in row) + ")" for row in rows)


def _zone_time_zones_sql() -> str:
    return f"(VALUES {_values(list(ZONE_TIME_ZONES.items()))}) AS tz(zone, time_zone)"


OBSERVATIONS_AS_OF = """(
    SELECT dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit, status
    FROM observation_history
    WHERE valid_from_utc <= $as_of AND (valid_to_utc IS NULL OR valid_to_utc > $as_of)
)"""
"""What the platform knew at ``$as_of``: the version of each value that was current then (the
``observation_history`` view's documented as-of filter), usable wherever ``observations`` is."""


def build_zone_hourly(connection: duckdb.DuckDBPyConnection, start_utc: datetime, end_utc: datetime,
                      run_id: str | None = None) -> BuildStats:
    """Replace ``zone_hourly`` for hours in ``[start_utc, end_utc)`` (naive UTC) from ``observations``;
    ``run_id`` is the Dagster run building it (kept in ``built_by_run_id`` so a number can be
    traced to its run; None outside Dagster)."""
    connection.execute("DELETE FROM zone_hourly WHERE hour_start_utc >= ? AND hour_start_utc < ?",
                       [start_utc, end_utc])
    connection.execute(f"INSERT INTO zone_hourly BY NAME {_zone_hourly_select('observations')}",
                       {"start": start_utc, "end": end_utc, "built_at": _now_naive(), "run_id": run_id})
    return _stats(connection, "zone_hourly", "hour_start_utc", start_utc, end_utc)


def zone_hourly_as_of(connection: duckdb.DuckDBPyConnection, zone: str, start_utc: datetime, end_utc: datetime,
                      as_of: datetime) -> list[tuple]:
    """``zone_hourly`` rows of one zone for ``[start_utc, end_utc)`` computed on the fly from what
    the platform knew at ``as_of`` (naive UTC), without touching the stored table: the same SQL
    as :func:`build_zone_hourly`, over :data:`OBSERVATIONS_AS_OF` instead of ``observations``.
    Returns the cursor's rows ordered by hour; column names are in ``connection.description``."""
    return connection.execute(f"""
        SELECT * FROM ({_zone_hourly_select(OBSERVATIONS_AS_OF, zone_filter=True)}) ORDER BY hour_start_utc
    """, {"start": start_utc, "end": end_utc, "built_at": _now_naive(), "run_id": None, "as_of": as_of,
          "zone": zone}).fetchall()


def _zone_hourly_select(source: str, zone_filter: bool = False) -> str:
    """The SELECT that computes ``zone_hourly`` rows for ``[$start, $end)`` from ``source`` (a table
    or a parenthesised query with the columns of ``observations``)."""
    renewables = ", ".join(f"'production_{m}'" for m in RENEWABLE_MODES)
    pivot = ",\n".join(f"max(mean_value) FILTER (WHERE quantity = '{q}') AS {q}" for q in QUANTITIES)
    precedence = _values([(name, rank) for rank, name in enumerate(DATASET_PRECEDENCE)])
    zone = "AND zone = $zone" if zone_filter else ""
    return f"""
        WITH per_dataset AS (
            SELECT zone, quantity, dataset, date_trunc('hour', interval_start_utc) AS hour_start_utc,
                   sum(value * interval_minutes) / sum(interval_minutes) AS mean_value,
                   sum(value * interval_minutes) / 60.0                  AS energy_mwh,
                   sum(interval_minutes)                                 AS minutes
            FROM {source} AS observations
            WHERE interval_start_utc >= $start AND interval_start_utc < $end {zone}
            GROUP BY ALL
        ),
        best AS (
            SELECT p.* FROM per_dataset p
            LEFT JOIN (VALUES {precedence}) AS r(dataset, rank) USING (dataset)
            QUALIFY row_number() OVER (PARTITION BY zone, quantity, hour_start_utc
                                       ORDER BY coalesce(r.rank, 99), dataset) = 1
        ),
        factor_version AS (SELECT max(version) AS version FROM emission_factors),
        with_factor AS (  -- the zone's own factor where it has one, else the default (as co2_intensity)
            SELECT b.*, coalesce(fz.g_co2eq_per_kwh, fd.g_co2eq_per_kwh) AS factor
            FROM best b CROSS JOIN factor_version v
            LEFT JOIN emission_factors fz
              ON fz.version = v.version AND fz.zone = b.zone AND 'production_' || fz.mode = b.quantity
            LEFT JOIN emission_factors fd
              ON fd.version = v.version AND fd.zone = '*' AND 'production_' || fd.mode = b.quantity
        ),
        wide AS (
            SELECT zone, hour_start_utc,
                   {pivot},
                   sum(mean_value) FILTER (WHERE starts_with(quantity, 'production_'))   AS production_total,
                   sum(mean_value) FILTER (WHERE quantity IN ({renewables}))            AS renewable_total,
                   sum(energy_mwh) FILTER (WHERE starts_with(quantity, 'production_'))   AS production_mwh,
                   sum(energy_mwh) FILTER (WHERE quantity IN ({renewables}))            AS renewable_mwh,
                   max(energy_mwh) FILTER (WHERE quantity = 'consumption')              AS consumption_mwh,
                   max(energy_mwh) FILTER (WHERE quantity = 'exchange_net')             AS exchange_net_mwh,
                   sum(mean_value * factor) FILTER (WHERE factor IS NOT NULL)
                     / nullif(sum(mean_value) FILTER (WHERE factor IS NOT NULL), 0)     AS co2_intensity_computed,
                   count(*)::INTEGER                                                    AS fields,
                   sum(minutes)::INTEGER                                                AS minutes_present,
                   string_agg(DISTINCT dataset, ',' ORDER BY dataset)                   AS datasets
            FROM with_factor GROUP BY zone, hour_start_utc
        )
        SELECT w.*,
               coalesce(tz.time_zone, 'UTC')                                              AS time_zone,
               timezone(coalesce(tz.time_zone, 'UTC'), timezone('UTC', w.hour_start_utc))::DATE AS local_date,
               w.fields * 60                                                              AS minutes_expected,
               100.0 * w.minutes_present / (w.fields * 60)                                AS coverage_pct,
               100.0 * w.renewable_total / nullif(w.production_total, 0)                  AS renewable_share_pct,
               $built_at::TIMESTAMP                                                       AS built_at_utc,
               $run_id::VARCHAR                                                           AS built_by_run_id
        FROM wide w LEFT JOIN {_zone_time_zones_sql()} USING (zone)
    """


def _weighted_means(weight: str) -> str:
    """Means of a finer table's mean columns, weighted by ``weight`` over rows where each is present."""
    columns = [q for q in QUANTITIES] + ["production_total", "renewable_total"]
    return ",\n".join(f"sum({c} * {weight}) / nullif(sum({weight}) FILTER (WHERE {c} IS NOT NULL), 0) AS {c}"
                      for c in columns)


def build_zone_periods(connection: duckdb.DuckDBPyConnection, grain: str, first: date, last: date,
                       run_id: str | None = None) -> BuildStats:
    """Replace the ``grain`` table (daily, weekly, monthly) for the periods containing local dates
    ``first`` to ``last``: days from ``zone_hourly``, weeks and months from ``zone_daily``.

    Periods follow each zone's local calendar, so a DST day expects 23 or 25 hours; hours that
    never arrived count as 0 % coverage rather than shrinking the denominator. ``run_id``: as in
    :func:`build_zone_hourly`.
    """
    table, key = PERIOD_TABLES[_check_grain(grain)], PERIOD_KEYS[grain]
    first_period, last_period = _period_bounds(connection, grain, first, last)
    source = "zone_hourly" if grain == "daily" else "zone_daily"
    connection.execute(f"DELETE FROM {table} WHERE {key} BETWEEN ? AND ?", [first_period, last_period])
    connection.execute(f"INSERT INTO {table} BY NAME {_zone_periods_select(grain, source)}",
                       {"first_period": first_period, "last_period": last_period, "built_at": _now_naive(),
                        "run_id": run_id})
    return _stats(connection, table, key, first_period, last_period, inclusive=True)


def zone_periods_as_of(connection: duckdb.DuckDBPyConnection, zone: str, grain: str, first: date, last: date,
                       as_of: datetime) -> list[tuple]:
    """Rows of the ``grain`` table (daily, weekly, monthly) of one zone for the periods containing
    local dates ``first`` to ``last``, computed on the fly from what the platform knew at ``as_of``
    (naive UTC): the hours as :func:`zone_hourly_as_of` computes them, then days (and weeks or
    months from those days) by the same SQL as :func:`build_zone_periods`. Nothing stored is
    touched. Returns the cursor's rows ordered by period; names in ``connection.description``."""
    first_period, last_period = _period_bounds(connection, _check_grain(grain), first, last)
    day_last = connection.execute(f"SELECT ($last::DATE + INTERVAL {_PERIOD_UNITS[grain]} - INTERVAL 1 DAY)::DATE",
                                  {"last": last_period}).fetchall()[0][0]
    # hours a day either side: which UTC hours fall on a local date depends on the zone's offset
    hours = f"({_zone_hourly_select(OBSERVATIONS_AS_OF, zone_filter=True)})"
    select = _zone_periods_select("daily", hours, "$day_first", "$day_last")
    if grain != "daily":
        select = _zone_periods_select(grain, f"({select})", "$first_period", "$last_period")
    return connection.execute(f"SELECT * FROM ({select}) ORDER BY {PERIOD_KEYS[grain]}", {
        "start": datetime.combine(first_period - timedelta(days=1), time()),
        "end": datetime.combine(day_last + timedelta(days=2), time()),
        "zone": zone, "as_of": as_of, "built_at": _now_naive(), "run_id": None,
        "day_first": first_period, "day_last": day_last,
        **({"first_period": first_period, "last_period": last_period} if grain != "daily" else {}),
    }).fetchall()


_PERIOD_UNITS: dict[str, str] = {"daily": "1 DAY", "weekly": "7 DAY", "monthly": "1 MONTH"}


def _check_grain(grain: str) -> str:
    if grain not in PERIOD_TABLES:
        raise ValueError(f"unknown grain {grain!r}; expected one of {sorted(PERIOD_TABLES)}")
    return grain


def _period_of(grain: str) -> str:
    """The SQL expression giving a row's period (its first local date) from ``local_date``."""
    if grain == "daily":
        return "local_date"
    return f"date_trunc('{'week' if grain == 'weekly' else 'month'}', local_date)::DATE"


def _period_bounds(connection: duckdb.DuckDBPyConnection, grain: str, first: date, last: date) -> tuple[date, date]:
    """The first local dates of the periods holding ``first`` and ``last``."""
    period_of = _period_of(grain)
    row = connection.execute(f"SELECT {period_of.replace('local_date', '$first::DATE')}, "
                             f"{period_of.replace('local_date', '$last::DATE')}",
                             {"first": first, "last": last}).fetchall()[0]
    return row[0], row[1]


def _zone_periods_select(grain: str, source: str, first: str = "$first_period", last: str = "$last_period") -> str:
    """The SELECT computing ``grain`` rows for the periods starting ``first`` .. ``last`` (SQL
    parameters) from ``source``: ``zone_hourly`` for days, ``zone_daily`` for weeks and months,
    or a parenthesised query shaped like them (the as-of path)."""
    period_of, unit = _period_of(grain), _PERIOD_UNITS[grain]
    if grain == "daily":
        weight, energy_weight = "1", "production_total"
    else:
        weight, energy_weight = "hours_present", "production_mwh"
    hours = "count(*)" if grain == "daily" else "sum(hours_present)"
    coverage = "sum(coverage_pct)" if grain == "daily" else "sum(coverage_pct * hours_expected)"
    return f"""
        WITH rows AS (
            SELECT *, {period_of} AS period FROM {source} AS source_rows
            WHERE local_date >= {first} AND local_date < {last} + INTERVAL {unit}
        ),
        grouped AS (
            SELECT zone, period, any_value(time_zone) AS time_zone,
                   {_weighted_means(weight)},
                   sum(co2_intensity_computed * {energy_weight})
                     / nullif(sum({energy_weight}) FILTER (WHERE co2_intensity_computed IS NOT NULL), 0)
                                                                    AS co2_intensity_computed,
                   sum(production_mwh) AS production_mwh, sum(renewable_mwh) AS renewable_mwh,
                   sum(consumption_mwh) AS consumption_mwh, sum(exchange_net_mwh) AS exchange_net_mwh,
                   {hours}::INTEGER AS hours_present, {coverage} AS coverage_weighted
            FROM rows GROUP BY zone, period
        ),
        bounded AS (
            SELECT *, timezone('UTC', timezone(time_zone, period::TIMESTAMP))::TIMESTAMP AS period_start_utc,
                      timezone('UTC', timezone(time_zone, (period + INTERVAL {unit})::TIMESTAMP))::TIMESTAMP
                                                                                            AS period_end_utc
            FROM grouped
        )
        SELECT * EXCLUDE (period, coverage_weighted),
               period AS {PERIOD_KEYS[grain]},
               (epoch(period_end_utc - period_start_utc) / 3600)::INTEGER AS hours_expected,
               coverage_weighted / (epoch(period_end_utc - period_start_utc) / 3600) AS coverage_pct,
               100.0 * renewable_mwh / nullif(production_mwh, 0) AS renewable_share_pct,
               $built_at::TIMESTAMP AS built_at_utc, $run_id::VARCHAR AS built_by_run_id
        FROM bounded
    """


def _now_naive() -> datetime:
    """Build time from the platform clock (not DuckDB's ``now()``), so it agrees with what the
    backfill CLI and the sensors call now when the clock is pinned."""
    return utc_now().replace(tzinfo=None)


def _stats(connection: duckdb.DuckDBPyConnection, table: str, key: str, low: object, high: object,
           inclusive: bool = False) -> BuildStats:
    upper = "<=" if inclusive else "<"
    row = connection.execute(f"""
        SELECT count(*), count(DISTINCT zone), count(DISTINCT {key}), coalesce(avg(coverage_pct), 0)
        FROM {table} WHERE {key} >= ? AND {key} {upper} ?
    """, [low, high]).fetchall()[0]
    return BuildStats(rows=int(row[0]), zones=int(row[1]), periods=int(row[2]), coverage_pct=float(row[3]))

