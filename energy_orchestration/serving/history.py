"""The dashboard's history view: one zone over any local-date range, in one payload.

The grain is picked here, not in the browser, so a year is never shipped as minutes: minute
observations for short ranges, ``zone_hourly`` up to about two months, ``zone_daily`` beyond.
Every series also says why it may be empty: which datasets publish that quantity for the zone
(from the providers' declared mappings, :func:`published_quantities`), and how much of the
range has a value (coverage), so the page can tell "no source publishes consumption for
DK-DK1" from "no data landed for this range" from "partial: 63 % of hours present".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any

from energy_orchestration.emission_factors import CURRENT_VERSION, FACTORS
from energy_orchestration.model import QUANTITIES, ZONES
from energy_orchestration.serving.queries import local_day_bounds, zone_time_zone
from energy_orchestration.sources import DATASETS, energidataservice, odre
from energy_orchestration.warehouse import Warehouse

GRAINS = ("minute", "hourly", "daily")
MINUTE_MAX_DAYS = 2
"""Ranges up to this many local days are drawn from minute observations (≤ 2,880 points a line)."""
HOURLY_MAX_DAYS = 62
"""Up to about two months from ``zone_hourly`` (≤ 1,488 points a line); longer from ``zone_daily``."""

MAX_DAYS = {"minute": 31, "hourly": 366, "daily": 3660}
"""The longest range each grain is served for (a month of minutes is ~45,000 points a line)."""

DASHBOARD_QUANTITIES: tuple[str, ...] = tuple(
    q for q in QUANTITIES
    if q.startswith(("production_", "exchange_")) or q in ("consumption", "consumption_forecast_d0",
                                                           "co2_intensity_reported"))
"""What the dashboard draws, besides the computed CO2 intensity (a derived column/view)."""


@cache
def published_quantities() -> dict[str, dict[str, tuple[str, ...]]]:
    """zone -> quantity -> datasets whose declared mappings publish it for that zone.

    Read from the providers' specs (the same mappings the parsers use), so it cannot drift from
    what lands: Energi Data Service maps columns to a fixed zone or to each price area's zone;
    éCO2mix maps fields to France (national) or to each region (regional)."""
    found: dict[str, dict[str, set[str]]] = {zone: {} for zone in ZONES}
    for name, spec in DATASETS.items():
        for zone, quantity in _zone_quantities(spec):
            found.setdefault(zone, {}).setdefault(quantity, set()).add(name)
    return {zone: {q: tuple(sorted(d)) for q, d in sorted(quantities.items())}
            for zone, quantities in found.items()}


def _zone_quantities(spec: Any) -> list[tuple[str, str]]:
    if isinstance(spec, energidataservice.DatasetSpec):
        pairs = []
        for m in spec.mappings:
            zones = ([m.only_zone] if m.only_zone else list(spec.area_zones)) \
                if m.zone == energidataservice.RECORD_ZONE else [m.zone]
            pairs += [(z, m.quantity) for z in zones]
        return pairs
    if isinstance(spec, odre.OdreDataset):
        zones = ([z for z in ZONES if z.startswith(f"{spec.national_zone}-")] if spec.regional
                 else [spec.national_zone])
        return [(z, m.quantity) for z in zones for m in spec.mappings]
    raise TypeError(f"no published-quantities rule for {type(spec).__name__}")


def pick_grain(first: date, last: date) -> str:
    """The coarsest table that still shows the range's shape: minutes for a day or two, hours
    for up to two months, days beyond (a year is 365 points a line)."""
    days = (last - first).days + 1
    if days <= MINUTE_MAX_DAYS:
        return "minute"
    return "hourly" if days <= HOURLY_MAX_DAYS else "daily"


@dataclass(frozen=True)
class RangeSeries:
    grain: str
    start_utc: datetime
    end_utc: datetime
    series: dict[str, list[list[float | None]]]
    """quantity -> [[epoch ms, value], ...] ordered by time; epoch ms is cheap for the browser."""
    coverage: dict[str, float]
    """quantity -> % of the range's buckets (hours; days for the daily grain) holding a value,
    counted up to ``now`` only: the future is not missing."""
    buckets_expected: int


def range_series(warehouse: Warehouse, zone: str, first: date, last: date, grain: str,
                 now: datetime) -> RangeSeries:
    """The zone's dashboard series over local dates ``first..last`` (inclusive) at ``grain``."""
    start, _ = local_day_bounds(zone, first)
    _, end = local_day_bounds(zone, last)
    with warehouse.connect(read_only=True) as db:
        if grain == "minute":
            rows = _minute_rows(db, zone, start, end)
        else:
            rows = _aggregate_rows(db, zone, start, end, grain)
    series: dict[str, list[list[float | None]]] = {}
    for quantity, ms, value in rows:
        series.setdefault(quantity, []).append([ms, value])
    bucket = timedelta(days=1) if grain == "daily" else timedelta(hours=1)
    horizon = min(end, now)
    expected = _buckets(start, horizon, bucket, zone, grain)
    coverage = {}
    for quantity, points in series.items():
        low, high = _epoch_ms(start), _epoch_ms(horizon)
        present = {_bucket_of(ms, bucket, grain) for ms, _ in points if low <= ms < high}
        coverage[quantity] = round(100.0 * len(present) / expected, 1) if expected else 0.0
    return RangeSeries(grain, start, end, series, coverage, expected)


def _minute_rows(db: Any, zone: str, start: datetime, end: datetime) -> list[tuple[str, int, float]]:
    """Observations as landed (mean over datasets per interval, as the live view), plus the
    computed CO2 intensity, by the ``co2_intensity`` view's rule (the zone's factor where it has
    one, else the default, latest version; per dataset, then the mean over datasets) but over the
    range only: the view first lists every zone in ``observations``, a full scan that made a
    week of minutes 3-4 times slower (measured on the year warehouse)."""
    names = ", ".join(f"'{q}'" for q in DASHBOARD_QUANTITIES)  # our own vocabulary, never input
    bounds = {"zone": zone, "start": start, "end": end}
    rows = db.execute(f"""
        SELECT quantity, epoch_ms(interval_start_utc), avg(value) FROM observations
        WHERE zone = $zone AND interval_start_utc >= $start AND interval_start_utc < $end AND quantity IN ({names})
        GROUP BY quantity, interval_start_utc ORDER BY quantity, interval_start_utc""", bounds).fetchall()
    computed = db.execute("""
        WITH factors AS (
            SELECT 'production_' || d.mode AS quantity, coalesce(z.g_co2eq_per_kwh, d.g_co2eq_per_kwh) AS factor
            FROM emission_factors d
            LEFT JOIN emission_factors z ON z.version = d.version AND z.zone = $zone AND z.mode = d.mode
            WHERE d.zone = '*' AND d.version = (SELECT max(version) FROM emission_factors)
        ),
        per_dataset AS (
            SELECT o.dataset, o.interval_start_utc, sum(o.value * f.factor) / nullif(sum(o.value), 0) AS computed
            FROM observations o JOIN factors f USING (quantity)
            WHERE o.zone = $zone AND o.interval_start_utc >= $start AND o.interval_start_utc < $end
            GROUP BY ALL
        )
        SELECT 'co2_intensity_computed', epoch_ms(interval_start_utc), avg(computed) FROM per_dataset
        WHERE computed IS NOT NULL GROUP BY interval_start_utc ORDER BY interval_start_utc""", bounds).fetchall()
    return rows + computed


def _aggregate_rows(db: Any, zone: str, start: datetime, end: datetime,
                    grain: str) -> list[tuple[str, int, float]]:
    """The wide hourly/daily table unpivoted to (quantity, epoch ms, value), non-null values only."""
    table, moment = ("zone_hourly", "hour_start_utc") if grain == "hourly" else ("zone_daily", "period_start_utc")
    exists = db.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                        [table]).fetchall()[0][0]
    if not exists:
        return []
    columns = [*DASHBOARD_QUANTITIES, "co2_intensity_computed"]
    frame = db.execute(f"""SELECT epoch_ms({moment}), {", ".join(columns)} FROM {table}
        WHERE zone = ? AND {moment} >= ? AND {moment} < ? ORDER BY {moment}""", [zone, start, end]).fetchall()
    out = []
    for index, quantity in enumerate(columns, start=1):
        out += [(quantity, row[0], row[index]) for row in frame if row[index] is not None]
    return out


def _epoch_ms(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds() * 1000)


_EPOCH = datetime(1970, 1, 1)


def _bucket_of(ms: float | None, bucket: timedelta, grain: str) -> float:
    # daily points sit at local midnights (period_start_utc), one per day: the point is the bucket
    return ms if grain == "daily" else (ms or 0) // (bucket.total_seconds() * 1000)


def _buckets(start: datetime, horizon: datetime, bucket: timedelta, zone: str, grain: str) -> int:
    """Buckets expected in ``[start, horizon)``: local days for the daily grain (23/25-hour DST
    days count once), whole UTC hours otherwise."""
    if horizon <= start:
        return 0
    if grain == "daily":
        count, day = 0, None
        moment = start
        while moment < horizon:
            count += 1
            day = _local_date_of(moment, zone) + timedelta(days=1)
            moment = local_day_bounds(zone, day)[0]
        return count
    return -(-int((horizon - start).total_seconds()) // int(bucket.total_seconds()))


def _local_date_of(moment: datetime, zone: str) -> date:
    return moment.replace(tzinfo=timezone.utc).astimezone(zone_time_zone(zone)).date()


_REPORTED_METHODS = {
    "CO2Emis": "Energinet's CO2Emis: CO2 per kWh of electricity consumed in Denmark, from each plant's "
               "direct (stack) emissions, production, consumption and exchanges; heat from combined "
               "heat and power credited by the 125 % method",
    "PowerSystemRightNow": "Energinet's real-time CO2Emission in PowerSystemRightNow: Denmark's current CO2 "
                           "per kWh as Energinet estimates it minute by minute (its method is documented "
                           "for CO2Emis only)",
    "eco2mix-national-tr": "RTE's éCO2mix taux_co2: direct CO2 of electricity generated in France "
                           "(combustion in fossil plants only)",
    "eco2mix-national-cons-def": "RTE's éCO2mix taux_co2 (consolidated): direct CO2 of electricity "
                                 "generated in France (combustion in fossil plants only)",
}


def co2_methods(zone: str) -> dict[str, str]:
    """The one-line explanations the dashboard shows next to the two CO2 intensities.

    Reported comes from the datasets that publish ``co2_intensity_reported`` for the zone;
    computed names the factor set in use (:mod:`emission_factors`), so neither can go stale."""
    publishers = published_quantities().get(zone, {}).get("co2_intensity_reported", ())
    reported = "; ".join(_REPORTED_METHODS.get(d, f"as published by {d}") for d in publishers) \
        or f"no source publishes a CO2 intensity for {zone}"
    source = next(f.source for f in FACTORS if f.version == CURRENT_VERSION)
    computed = (f"our emission factors {CURRENT_VERSION} ({source}): life-cycle gCO2eq/kWh per mode "
                f"(construction and fuel supply included) × the zone's production mix; imports not counted")
    if zone.startswith("DK"):
        why = ("computed is life-cycle CO2-equivalent of production; reported is direct CO2 of consumption "
               "with CHP heat credited. Denmark publishes thermal output only as ≥/< 100 MW totals, which get "
               "the 700 g 'unknown' factor although much of it is biomass CHP: computed runs about twice reported")
    elif publishers:
        why = ("computed is life-cycle CO2-equivalent (nuclear, wind and hydro count their construction); "
               "reported is direct combustion CO2 only, so computed is higher when fossil output is low")
    else:
        why = "only the computed intensity exists for this zone"
    return {"reported": reported, "computed": computed, "why_they_differ": why, "factor_version": CURRENT_VERSION}
