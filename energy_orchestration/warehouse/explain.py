"""Explain a number: what one aggregate cell (zone, grain, period) was built from.

An analyst who cites "DK1's mean wind production on 1 June was 812 MW" must be able to say
where it came from. For a cell this gathers, from the warehouse alone:

- the stored row's build time and the Dagster run that built it (``built_by_run_id``; NULL
  when built outside Dagster), and whether values landed in its range after that build (the
  cell would then differ if rebuilt now);
- per quantity (field): the dataset(s) the value was taken from, chosen per hour by
  ``DATASET_PRECEDENCE`` exactly as the builder does, the other datasets that carried it but
  lost, and intervals present vs expected for the datasets used;
- the values refused for the zone in that range, with their reasons (``quarantine``);
- the revisions in that range: each superseded version with its status and validity
  (``observation_revisions``), next to the current value.

Plain functions over a connection; the API and the CLI only format the result.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from energy_orchestration.model import ZONE_TIME_ZONES
from energy_orchestration.warehouse.aggregates import DATASET_PRECEDENCE, _values
from energy_orchestration.warehouse.schema import PERIOD_KEYS, PERIOD_TABLES

GRAINS: tuple[str, ...] = ("hourly", *PERIOD_TABLES)
MAX_LISTED = 200
"""Refused values and revisions listed at most per cell (the totals are always given)."""


class UnknownCell(ValueError):
    """The grain or the period does not name a cell (e.g. a weekly period that is not a Monday)."""


def cell_range(zone: str, grain: str, period: date | datetime) -> tuple[datetime, datetime]:
    """The cell's half-open UTC range (naive): an hour from its UTC start; a local day, week
    (from Monday) or month of the zone's calendar from its first local date."""
    if grain == "hourly":
        if not isinstance(period, datetime) or period.minute or period.second or period.microsecond:
            raise UnknownCell("an hourly period is the hour's UTC start, e.g. 2025-06-01T12:00:00Z")
        return period, period + timedelta(hours=1)
    if grain not in PERIOD_TABLES:
        raise UnknownCell(f"unknown grain {grain!r}; expected one of {list(GRAINS)}")
    first = period.date() if isinstance(period, datetime) else period
    if grain == "daily":
        after = first + timedelta(days=1)
    elif grain == "weekly":
        if first.weekday() != 0:
            raise UnknownCell("a weekly period is named by its Monday (week_start)")
        after = first + timedelta(days=7)
    else:
        if first.day != 1:
            raise UnknownCell("a monthly period is named by its first day (month_start)")
        after = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    tz = ZoneInfo(ZONE_TIME_ZONES[zone])
    return _naive_utc(datetime.combine(first, time(), tz)), _naive_utc(datetime.combine(after, time(), tz))


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def explain_cell(connection: duckdb.DuckDBPyConnection, zone: str, grain: str,
                 period: date | datetime) -> dict[str, Any]:
    """Everything the cell ``(zone, grain, period)`` was built from (see the module docstring).
    ``row`` is None when the cell has not been built; the inputs are still described."""
    start, end = cell_range(zone, grain, period)
    row = _stored_row(connection, zone, grain, period, start)
    newest_landing = connection.execute("""
        SELECT max(valid_from_utc) FROM observation_history
        WHERE zone = ? AND interval_start_utc >= ? AND interval_start_utc < ?""", [zone, start, end]).fetchall()[0][0]
    built_at = row.get("built_at_utc") if row else None
    return {
        "zone": zone, "grain": grain, "period": period.isoformat(), "from_utc": start, "to_utc": end,
        "row": row,
        "built": {"built_at_utc": built_at, "built_by_run_id": row.get("built_by_run_id") if row else None,
                  "newest_landing_utc": newest_landing,
                  "landed_after_build": bool(built_at and newest_landing and newest_landing > built_at)},
        "fields": _fields(connection, zone, start, end),
        "refused": _refused(connection, zone, start, end),
        "revisions": _revisions(connection, zone, start, end),
    }


def _stored_row(connection: duckdb.DuckDBPyConnection, zone: str, grain: str, period: date | datetime,
                start: datetime) -> dict[str, Any] | None:
    if grain == "hourly":
        table, key, value = "zone_hourly", "hour_start_utc", start
    else:
        table, key = PERIOD_TABLES[grain], PERIOD_KEYS[grain]
        value = period.date() if isinstance(period, datetime) else period
    cursor = connection.execute(f"SELECT * FROM {table} WHERE zone = ? AND {key} = ?", [zone, value])
    names = [d[0] for d in cursor.description]
    found = cursor.fetchall()
    return dict(zip(names, found[0], strict=True)) if found else None


def _fields(connection: duckdb.DuckDBPyConnection, zone: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Per quantity: the datasets used (the best-ranked per hour, as ``build_zone_hourly``), the
    hours each supplied, intervals present/expected for them, and the datasets that lost."""
    precedence = _values([(name, rank) for rank, name in enumerate(DATASET_PRECEDENCE)])
    rows = connection.execute(f"""
        WITH per_dataset AS (
            SELECT quantity, dataset, date_trunc('hour', interval_start_utc) AS hour,
                   count(*) AS intervals, min(interval_minutes) AS step, sum(interval_minutes) AS minutes
            FROM observations
            WHERE zone = $zone AND interval_start_utc >= $start AND interval_start_utc < $end
            GROUP BY ALL
        ),
        ranked AS (
            SELECT p.*, row_number() OVER (PARTITION BY quantity, hour ORDER BY coalesce(r.rank, 99), dataset) AS place
            FROM per_dataset p LEFT JOIN (VALUES {precedence}) AS r(dataset, rank) USING (dataset)
        )
        SELECT quantity, dataset, place = 1 AS used, count(*) AS hours, sum(intervals) AS intervals,
               min(step) AS step, sum(minutes) AS minutes
        FROM ranked GROUP BY quantity, dataset, place = 1 ORDER BY quantity, used DESC, dataset
    """, {"zone": zone, "start": start, "end": end}).fetchall()
    span_minutes = int((end - start).total_seconds() // 60)
    fields: dict[str, dict[str, Any]] = {}
    for quantity, dataset, used, hours, intervals, step, minutes in rows:
        field = fields.setdefault(quantity, {"quantity": quantity, "datasets": [], "not_used": [],
                                             "intervals_present": 0, "intervals_expected": 0,
                                             "minutes_present": 0, "minutes_expected": span_minutes})
        if used:
            field["datasets"].append({"dataset": dataset, "hours": int(hours), "interval_minutes": int(step)})
            field["intervals_present"] += int(intervals)
            field["minutes_present"] += int(minutes)
        elif dataset not in field["not_used"] and all(d["dataset"] != dataset for d in field["datasets"]):
            field["not_used"].append(dataset)
    for field in fields.values():
        main = field["datasets"][0]["interval_minutes"] if field["datasets"] else None
        field["intervals_expected"] = span_minutes // main if main else 0
        field["not_used"] = [d for d in field["not_used"] if all(u["dataset"] != d for u in field["datasets"])]
    return list(fields.values())


def _refused(connection: duckdb.DuckDBPyConnection, zone: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Values refused for this zone in the range; whole records refused before a zone was known
    (zone '') cannot be placed in a cell and are not listed."""
    where = "zone = ? AND interval_start_utc >= ? AND interval_start_utc < ?"
    total = connection.execute(f"SELECT count(*) FROM quarantine WHERE {where}", [zone, start, end]).fetchall()[0][0]
    cursor = connection.execute(f"""
        SELECT dataset, quantity, interval_start_utc, rule, stage, reason, quarantined_at_utc, source_id
        FROM quarantine WHERE {where} ORDER BY interval_start_utc, quantity, rule LIMIT {MAX_LISTED}""",
        [zone, start, end])
    return {"total": int(total), "items": _dicts(cursor)}


def _revisions(connection: duckdb.DuckDBPyConnection, zone: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Superseded versions in the range, oldest first, each with the value that is current now."""
    where = "r.zone = ? AND r.interval_start_utc >= ? AND r.interval_start_utc < ?"
    total = connection.execute(f"SELECT count(*) FROM observation_revisions r WHERE {where}",
                               [zone, start, end]).fetchall()[0][0]
    cursor = connection.execute(f"""
        SELECT r.dataset, r.quantity, r.interval_start_utc, r.value, r.status,
               r.landed_at_utc AS valid_from_utc, r.superseded_at_utc AS valid_to_utc,
               o.value AS current_value, o.status AS current_status, o.landed_at_utc AS current_since_utc
        FROM observation_revisions r
        LEFT JOIN observations o USING (dataset, zone, quantity, interval_start_utc)
        WHERE {where}
        ORDER BY r.interval_start_utc, r.dataset, r.quantity, r.landed_at_utc LIMIT {MAX_LISTED}""",
        [zone, start, end])
    return {"total": int(total), "items": _dicts(cursor)}


def as_json(value: Any) -> Any:
    """An explanation with JSON values: UTC times as ISO with ``Z``, dates as ISO, NaN as null."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def parse_period(grain: str, text: str) -> date | datetime:
    """A period as typed by a user: for hourly an ISO time (UTC unless it has an offset), else a date."""
    if grain == "hourly":
        moment = datetime.fromisoformat(text)
        return _naive_utc(moment) if moment.tzinfo else moment
    return date.fromisoformat(text)


def render(explanation: dict[str, Any]) -> str:
    """The explanation as text for the terminal (``energy explain``)."""
    e, built = explanation, explanation["built"]
    lines = [f"{e['zone']} {e['grain']} {e['period']}  [{e['from_utc']}, {e['to_utc']}) UTC"]
    if e["row"] is None:
        lines.append("  not built: no row in the aggregate table for this cell")
    else:
        run = built["built_by_run_id"] or "outside Dagster (no run id)"
        lines.append(f"  built {built['built_at_utc']} by run {run}")
        if built["landed_after_build"]:
            lines.append(f"  values landed after that build (newest {built['newest_landing_utc']}): "
                         "a rebuild would change the cell")
    lines.append("  fields (dataset used, intervals present/expected, datasets not used):")
    for f in e["fields"] or []:
        used = ", ".join(f"{d['dataset']} ({d['hours']} h)" for d in f["datasets"])
        lost = f"  not used: {', '.join(f['not_used'])}" if f["not_used"] else ""
        lines.append(f"    {f['quantity']:<32} {used}  {f['intervals_present']}/{f['intervals_expected']}{lost}")
    if not e["fields"]:
        lines.append("    (no landed values in this range)")
    lines.append(f"  refused values: {e['refused']['total']}")
    lines += [f"    {r['interval_start_utc']} {r['quantity'] or '(record)'} {r['dataset']}: {r['rule']}: {r['reason']}"
              for r in e["refused"]["items"]]
    lines.append(f"  revisions: {e['revisions']['total']}")
    lines += [f"    {r['interval_start_utc']} {r['quantity']} {r['dataset']}: {r['value']} ({r['status']}, "
              f"{r['valid_from_utc']} .. {r['valid_to_utc']}) -> now {r['current_value']} ({r['current_status']})"
              for r in e["revisions"]["items"]]
    shown = len(e["refused"]["items"]) + len(e["revisions"]["items"])
    if shown < e["refused"]["total"] + e["revisions"]["total"]:
        lines.append(f"  (lists cut at {MAX_LISTED} each)")
    return "\n".join(lines)
