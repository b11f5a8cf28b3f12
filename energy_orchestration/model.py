"""The canonical record every source is normalised into, and the rules that reject values.

One observation = one value for (dataset, zone, quantity, interval start in UTC). Providers
publish wide rows (one row, many columns, sometimes several zones); parsers melt them into
this long shape so aggregates, checks and the API never need to know a provider's columns.

Observations travel as a pandas DataFrame with :data:`OBSERVATION_COLUMNS`, because landing
hundreds of thousands of records per second is only possible column-wise.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from energy_orchestration import settings


class DataStatus(StrEnum):
    REALTIME = "realtime"
    CONSOLIDATED = "consolidated"
    DEFINITIVE = "definitive"
    ESTIMATED = "estimated"


class Unit(StrEnum):
    MW = "MW"
    G_CO2_PER_KWH = "gCO2eq/kWh"


# Zones use Electricity Maps' identifiers so our data lines up with theirs.
ZONES: dict[str, str] = {
    "DK": "Denmark",
    "DK-DK1": "Denmark West (DK1)",
    "DK-DK2": "Denmark East (DK2)",
    "FR": "France",
    # French administrative regions by INSEE code, as RTE's regional éCO2mix publishes them.
    "FR-11": "Île-de-France",
    "FR-24": "Centre-Val de Loire",
    "FR-27": "Bourgogne-Franche-Comté",
    "FR-28": "Normandie",
    "FR-32": "Hauts-de-France",
    "FR-44": "Grand Est",
    "FR-52": "Pays de la Loire",
    "FR-53": "Bretagne",
    "FR-75": "Nouvelle-Aquitaine",
    "FR-76": "Occitanie",
    "FR-84": "Auvergne-Rhône-Alpes",
    "FR-93": "Provence-Alpes-Côte d'Azur",
}

# Local calendar of each zone: daily, weekly and monthly summaries follow the zone's own days,
# so a DST day has 23 or 25 hours. (Copenhagen and Paris share CET/CEST rules, which is why one
# Dagster daily partition can stand for "the local day" of every zone we carry.)
ZONE_TIME_ZONES: dict[str, str] = {zone: "Europe/Copenhagen" if zone.startswith("DK") else "Europe/Paris"
                                   for zone in ZONES}

# Quantity vocabulary. Exchanges are named by the counterpart; import into the zone is positive.
PRODUCTION_MODES = (
    "nuclear", "wind_onshore", "wind_offshore", "solar", "hydro", "bioenergy",
    "gas", "coal", "oil", "thermal_other", "unknown",
)
QUANTITIES: dict[str, Unit] = {
    **{f"production_{mode}": Unit.MW for mode in PRODUCTION_MODES},
    "consumption": Unit.MW,
    "exchange_net": Unit.MW,
    **{f"exchange_{border}": Unit.MW for border in ("de", "nl", "gb", "no", "se", "dk1", "dk2", "bornholm_se")},
    "balancing_afrr_activated": Unit.MW,
    "balancing_mfrr_activated": Unit.MW,
    "balancing_imbalance": Unit.MW,
    "co2_intensity_reported": Unit.G_CO2_PER_KWH,
    # Signed as the provider publishes them: pumping and battery charging are <= 0 (drawn from
    # the grid), battery discharging >= 0.
    "pumping": Unit.MW,
    "storage_charge": Unit.MW,
    "storage_discharge": Unit.MW,
    # The operator's consumption forecasts for the interval, made the same day / the day before.
    "consumption_forecast_d0": Unit.MW,
    "consumption_forecast_d1": Unit.MW,
}

RENEWABLE_MODES = ("wind_onshore", "wind_offshore", "solar", "hydro", "bioenergy")
"""Modes counted in the renewable share (IPCC/Electricity Maps convention; pumped hydro is not
production here, it is the separate ``pumping`` quantity)."""

OBSERVATION_COLUMNS: tuple[str, ...] = (
    "dataset", "zone", "quantity", "interval_start_utc", "interval_minutes",
    "value", "unit", "status", "record_index",
)
"""Columns of a normalised observations frame. ``record_index`` points back to the source
record in the batch, so the consumer can attach Kafka offsets and the raw payload."""

EARLIEST_PLAUSIBLE = datetime(2000, 1, 1)


@dataclass(frozen=True)
class Rejection:
    """A record or a single value that did not pass validation, kept with the reason why."""

    dataset: str
    rule: str
    reason: str
    record_index: int | None
    record_key: str = ""
    zone: str = ""
    quantity: str = ""
    value: Any = None


@dataclass
class NormalisedBatch:
    """What a parser makes of a list of provider records."""

    observations: pd.DataFrame
    rejections: list[Rejection] = field(default_factory=list)
    rejected_records: set[int] = field(default_factory=set)
    """Indexes of records rejected as a whole (nothing of them landed)."""
    record_keys: list[str] = field(default_factory=list)
    """Natural key of each input record, by index ("" when it has none)."""
    record_times: list[datetime | None] = field(default_factory=list)
    """Interval start (naive UTC) of each input record, by index (None when unusable)."""
    skipped: dict[str, int] = field(default_factory=dict)
    """Records deliberately left out without being an error, by reason -> count (e.g. ODRÉ's
    forecast-only future rows), so landed + quarantined + skipped = fetched can be shown."""


# --- validation rules: data, not scattered ifs -------------------------------------------

@dataclass(frozen=True)
class Bounds:
    low: float
    high: float


# Physical bounds per quantity prefix, in the quantity's unit. The most specific prefix wins.
VALUE_BOUNDS: dict[str, Bounds] = {
    "production_": Bounds(0.0, 80_000.0),
    "consumption": Bounds(0.0, 120_000.0),
    "exchange_": Bounds(-20_000.0, 20_000.0),
    "balancing_": Bounds(-5_000.0, 5_000.0),
    "co2_intensity": Bounds(0.0, 2_000.0),
    "pumping": Bounds(-20_000.0, 0.0),
    "storage_charge": Bounds(-20_000.0, 0.0),
    "storage_discharge": Bounds(0.0, 20_000.0),
}

# Per-zone overrides of VALUE_BOUNDS, where a zone's physics is narrower than the general rule
# (checked on the canonical frame, where the zone is known: see apply_record_rules).
ZONE_VALUE_BOUNDS: dict[tuple[str, str], Bounds] = {
    ("DK", "production_nuclear"): Bounds(0.0, 0.0),        # Denmark has no nuclear plant
    ("DK-DK1", "production_nuclear"): Bounds(0.0, 0.0),
    ("DK-DK2", "production_nuclear"): Bounds(0.0, 0.0),
    ("FR-11", "production_nuclear"): Bounds(0.0, 0.0),     # Île-de-France: none either
    ("DK", "production_"): Bounds(0.0, 12_000.0),          # above Denmark's installed capacity
    ("FR", "consumption"): Bounds(20_000.0, 110_000.0),    # France's record peak is ~102 GW
}

RULES: dict[str, str] = {
    "missing_time": "the record has no usable interval timestamp",
    "time_out_of_range": "the interval starts in the future or before 2000",
    "not_a_number": "the value is neither a number nor null",
    "negative_production": "production cannot be negative",
    "out_of_bounds": "the value is outside the physical bounds for its quantity",
    "not_an_object": "the record is not a JSON object",
    "unknown_zone": "the record's price area is missing or not a known zone",
    "all_zero": "every value of the record is 0, which no running power system reports",
    "implausible_jump": "the value leaps away from both neighbouring intervals and back (a spike)",
    "unknown_field": "the record has fields outside the parser's contract (schema drift); the record still landed",
    "zone_bounds": "the value is outside what this zone can physically produce or consume",
}

# Largest believable change per minute, per quantity prefix (the most specific prefix wins),
# scaled by the interval (capped at an hour). A value leaving BOTH neighbours by more than that,
# in opposite directions, is a spike; a genuine ramp moves one way and passes.
JUMP_LIMITS_PER_MINUTE: dict[str, float] = {
    "production_": 400.0,
    "consumption": 800.0,
    "exchange_": 800.0,
    "balancing_": 1_000.0,
    "pumping": 800.0,
    "storage_": 400.0,
    "co2_intensity": 60.0,
}
MIN_VALUES_FOR_ALL_ZERO = 3
"""A record with fewer mapped values than this is too small to call 'all zero' suspicious."""


def _most_specific(table: dict[str, Any], quantity: str) -> Any:
    best: tuple[int, Any] | None = None
    for prefix, rule in table.items():
        if quantity.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), rule)
    return best[1] if best else None


def bounds_for(quantity: str) -> Bounds | None:
    return _most_specific(VALUE_BOUNDS, quantity)


def apply_record_rules(batch: NormalisedBatch, dataset: str) -> NormalisedBatch:
    """Rules that need more than one value at a time, for every provider: all-zero records
    (rejected whole) and spikes within the batch (the spiking value is rejected).

    Spikes are judged against neighbours in the same batch only; the first and last interval of
    a batch have one neighbour and are never called spikes.
    """
    frame = batch.observations
    if frame.empty:
        return batch
    records = frame["record_index"].to_numpy()
    values = frame["value"].to_numpy()
    counts = np.bincount(records)
    nonzero = np.bincount(records, weights=(values != 0).astype(np.float64), minlength=len(counts))
    drop = np.zeros(len(frame), dtype=bool)
    for index in np.flatnonzero((counts >= MIN_VALUES_FOR_ALL_ZERO) & (nonzero == 0)):
        index = int(index)
        batch.rejected_records.add(index)
        batch.rejections.append(Rejection(dataset=dataset, rule="all_zero", reason=f"{RULES['all_zero']}: "
                                          f"{int(counts[index])} values", record_index=index,
                                          record_key=batch.record_keys[index] if batch.record_keys else ""))
        drop |= records == index
    drop |= _zone_bounds(frame, dataset, batch, drop)
    drop |= _spikes(frame, dataset, batch)
    if drop.any():
        batch.observations = frame[~drop].reset_index(drop=True)
    return batch


def _zone_bounds(frame: pd.DataFrame, dataset: str, batch: NormalisedBatch, already: np.ndarray) -> np.ndarray:
    """Zone-specific bounds. Rows are matched by integer codes (``pd.factorize`` reads a
    categorical's codes): comparing the zone and quantity texts row by row was half of the
    batch-level rules on a 60,000-record batch."""
    zone_codes, zones = pd.factorize(frame["zone"])
    quantity_codes, quantities = pd.factorize(frame["quantity"])
    values = frame["value"].to_numpy()
    drop = np.zeros(len(frame), dtype=bool)
    bounded = {z for z, _ in ZONE_VALUE_BOUNDS}
    for zone_code, zone in enumerate(zones):
        if zone not in bounded:
            continue
        table = {prefix: bounds for (z, prefix), bounds in ZONE_VALUE_BOUNDS.items() if z == zone}
        in_zone = zone_codes == zone_code
        for quantity_code in np.unique(quantity_codes[in_zone]):
            quantity = str(quantities[quantity_code])
            bounds = _most_specific(table, quantity)
            if bounds is None:
                continue
            mask = (in_zone & (quantity_codes == quantity_code) & ~already
                    & ((values < bounds.low) | (values > bounds.high)))
            for position in np.flatnonzero(mask):
                index = int(frame["record_index"].iat[position])
                batch.rejections.append(Rejection(
                    dataset=dataset, rule="zone_bounds",
                    reason=f"{RULES['zone_bounds']} [{bounds.low:g}, {bounds.high:g}] in {zone}: {values[position]:g}",
                    record_index=index, record_key=batch.record_keys[index] if batch.record_keys else "",
                    zone=str(zone), quantity=quantity, value=float(values[position])))
            drop |= mask
    return drop


def _spikes(frame: pd.DataFrame, dataset: str, batch: NormalisedBatch) -> np.ndarray:
    if len(frame) < 3:
        return np.zeros(len(frame), dtype=bool)
    zone_codes = pd.factorize(frame["zone"])[0]
    quantity_codes, quantities = pd.factorize(frame["quantity"])
    minutes_all = frame["interval_start_utc"].to_numpy().astype("datetime64[m]").astype(np.int64)
    order = np.lexsort((minutes_all, quantity_codes, zone_codes))
    series = (zone_codes * 10_000 + quantity_codes)[order]
    values = frame["value"].to_numpy()[order]
    minutes = minutes_all[order]
    # one limit per distinct quantity, spread by code: no per-row Python
    limit_of_code = np.array([_most_specific(JUMP_LIMITS_PER_MINUTE, str(q)) or np.inf for q in quantities])
    limits = limit_of_code[quantity_codes[order]]
    limit = limits[1:-1]
    up, down = values[1:-1] - values[:-2], values[2:] - values[1:-1]
    spike = ((series[1:-1] == series[:-2]) & (series[1:-1] == series[2:])
             & (np.abs(up) > limit * np.minimum(minutes[1:-1] - minutes[:-2], 60))
             & (np.abs(down) > limit * np.minimum(minutes[2:] - minutes[1:-1], 60))
             & (np.sign(up) != np.sign(down)))
    drop = np.zeros(len(frame), dtype=bool)
    for position in np.flatnonzero(spike) + 1:
        row = frame.iloc[order[position]]
        index = int(row["record_index"])
        batch.rejections.append(Rejection(
            dataset=dataset, rule="implausible_jump",
            reason=f"{RULES['implausible_jump']}: {values[position - 1]:g} -> {values[position]:g} -> "
                   f"{values[position + 1]:g} (limit {limits[position]:g}/min)",
            record_index=index, record_key=batch.record_keys[index] if batch.record_keys else "",
            zone=str(row["zone"]), quantity=str(row["quantity"]), value=float(values[position])))
        drop[order[position]] = True
    return drop


def empty_observations() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype="object") for c in OBSERVATION_COLUMNS})
    return frame.astype({"interval_start_utc": "datetime64[us]", "interval_minutes": "int16",
                         "value": "float64", "record_index": "int64"})


def value_violations(quantity: str, values: np.ndarray) -> list[tuple[str, np.ndarray, str]]:
    """For one quantity's values, each rule that fired: (rule, mask of offending values, detail).

    Vectorised so a 20,000-record batch is validated in milliseconds; each value is blamed on
    the first rule it breaks only.
    """
    bounds = bounds_for(quantity)
    if bounds is None:
        return []
    fired: list[tuple[str, np.ndarray, str]] = []
    taken = np.zeros(len(values), dtype=bool)
    if quantity.startswith("production_"):
        negative = values < 0
        if negative.any():
            fired.append(("negative_production", negative, ""))
            taken |= negative
    outside = ~taken & ((values < bounds.low) | (values > bounds.high))
    if outside.any():
        fired.append(("out_of_bounds", outside, f" [{bounds.low:g}, {bounds.high:g}]"))
    return fired


def coerce_number(value: Any) -> float | None:
    """A provider value as a float, ``None`` for null; raises ValueError for anything else.

    Strings holding numbers are accepted because some providers send ``"-66"``.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"boolean {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        number = float(value.strip())
    else:
        raise ValueError(f"{type(value).__name__} {value!r}")
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"non-finite {value!r}")
    return number


_ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?")


def parse_interval_start(text: Any) -> datetime | None:
    """A provider's interval-start text as naive UTC, or None when it is not a clean ISO instant
    on a whole minute.

    Every spelling of one instant (``Z``, ``+00:00``, another offset, no offset = UTC,
    ``.000`` seconds) gives the same datetime, and record keys are built from it, so one interval
    is one key whatever the provider sent. Anything else is refused rather than guessed:
    trailing bytes (a NUL), other formats, or a start that is not a whole minute (every
    dataset's intervals start on minutes; 00:05:30 would be a second, different key).
    """
    if not isinstance(text, str):
        return None
    if _usual_spelling(text):
        try:  # the providers' usual spelling (EDS's ...UTC columns): skip the general path
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    text = text.strip()
    if not _ISO_INSTANT.fullmatch(text):
        return None
    fraction = re.search(r"\.(\d+)", text)
    if fraction and int(fraction.group(1)):
        return None  # sub-second start: not a whole minute
    try:
        moment = datetime.fromisoformat(re.sub(r"\.\d+", "", text))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    if moment.second:
        return None
    return moment


def _usual_spelling(text: str) -> bool:
    return len(text) == 19 and text[10] == "T" and text[16:] == ":00" and text[4] == "-" and text[13] == ":"


def canonical_time_key(moment: datetime, text: Any = None) -> str:
    """The record-key text of an interval start (naive UTC, as :func:`parse_interval_start`
    returns it): one spelling for every input one. ``text``, the spelling it was parsed from,
    is returned as it is when it already is that spelling (the common case, and cheaper)."""
    if isinstance(text, str) and _usual_spelling(text):
        return text
    return moment.isoformat()  # whole minutes: "YYYY-MM-DDTHH:MM:SS"; 5x faster than strftime


def has_booleans(values: list[Any]) -> bool:
    """Whether a provider column holds JSON booleans, which numpy would silently read as 1.0/0.0
    (``np.asarray([True, 2.5], float)``): they must be refused the same way in every batch."""
    return bool in set(map(type, values))


def utc_now() -> datetime:
    """The platform's one clock: "now" for data windows, stand-in data, sensors, the API and the
    dashboard (aware UTC).

    ``ENERGY_CLOCK_NOW`` pins it (a testing/demo knob), so the suite runs the same at any hour
    and in any time zone; unset, it is the system clock. Timeouts use ``time.monotonic``, not this.
    """
    return settings.pinned_now() or datetime.now(timezone.utc)


def to_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
