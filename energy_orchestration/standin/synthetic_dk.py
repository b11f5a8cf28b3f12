"""Deterministic, physically plausible synthetic data for Denmark's power system.

The stand-in must answer any time window instantly and identically on every
machine and in every process, so nothing here keeps state: every value is a
pure function of the minute. Pseudo-randomness comes from an integer hash
(splitmix64) of the minute index mixed with a per-channel seed derived with
blake2b, never from ``random`` or Python's salted ``hash()``.

Slow "weather" (wind, clouds, load deviations) is value noise: hashed knots
every few hours, smoothly interpolated, so consecutive minutes differ by a few
MW at most while the series never repeats.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "POWER_SYSTEM_RIGHT_NOW_FIELDS",
    "CO2_EMIS_FIELDS",
    "ELECTRICITY_PRODEX_5MIN_FIELDS",
    "PRICE_AREAS",
    "DK1_SHARE",
    "AREA_EXCHANGES",
    "BORDER_CAPACITY_MW",
    "co2_emis_columns",
    "co2_emis_records",
    "electricity_prodex_5min_columns",
    "electricity_prodex_5min_records",
    "dk_offset_minutes",
    "minute_index",
    "minute_to_datetime",
    "columns_to_records",
    "power_system_right_now_columns",
    "power_system_right_now_record",
    "power_system_right_now_records",
    "power_system_right_now_frame",
    "unit_hash",
]

#: Field order of a real ``PowerSystemRightNow`` record (clients may rely on it).
POWER_SYSTEM_RIGHT_NOW_FIELDS: tuple[str, ...] = (
    "Minutes1UTC",
    "Minutes1DK",
    "CO2Emission",
    "ProductionGe100MW",
    "ProductionLt100MW",
    "SolarPower",
    "OffshoreWindPower",
    "OnshoreWindPower",
    "Exchange_Sum",
    "Exchange_DK1_DE",
    "Exchange_DK1_NL",
    "Exchange_DK1_GB",
    "Exchange_DK1_NO",
    "Exchange_DK1_SE",
    "Exchange_DK1_DK2",
    "Exchange_DK2_DE",
    "Exchange_DK2_SE",
    "Exchange_Bornholm_SE",
    "aFRR_ActivatedDK1",
    "aFRR_ActivatedDK2",
    "mFRR_ActivatedDK1",
    "mFRR_ActivatedDK2",
    "ImbalanceDK1",
    "ImbalanceDK2",
)

#: Field order of a real ``CO2Emis`` record.
CO2_EMIS_FIELDS: tuple[str, ...] = ("Minutes5UTC", "Minutes5DK", "PriceArea", "CO2Emission")

#: Field order of a real ``ElectricityProdex5MinRealtime`` record (as in the 2025-02-21 recording).
ELECTRICITY_PRODEX_5MIN_FIELDS: tuple[str, ...] = (
    "Minutes5UTC",
    "Minutes5DK",
    "PriceArea",
    "ProductionLt100MW",
    "ProductionGe100MW",
    "OffshoreWindPower",
    "OnshoreWindPower",
    "SolarPower",
    "ExchangeGreatBelt",
    "ExchangeGermany",
    "ExchangeNetherlands",
    "ExchangeGreatBritain",
    "ExchangeNorway",
    "ExchangeSweden",
    "BornholmSE4",
)

#: Price areas of the 5-minute datasets, in the order rows of one timestamp are served.
PRICE_AREAS: tuple[str, ...] = ("DK1", "DK2")

#: Fixed DK1 share of each national production column of PowerSystemRightNow; DK2 gets the
#: rest, so DK1 + DK2 equals the national value (to rounding). Roughly the installed split:
#: most onshore wind and solar are in Jutland/Funen (DK1), offshore is split between Horns
#: Rev/Anholt/Thor (DK1) and Kriegers Flak/Rodsand (DK2), central plants about half each. The
#: recorded 2025-02-21 ElectricityProdex response shows about these ratios (19:10 UTC: onshore
#: 2135/383, offshore 1502/878, Lt100 347/201, Ge100 409/430 MW).
DK1_SHARE: dict[str, float] = {
    "ProductionLt100MW": 0.63,
    "ProductionGe100MW": 0.50,
    "OffshoreWindPower": 0.63,
    "OnshoreWindPower": 0.85,
    "SolarPower": 0.70,
}

#: Per area, each ElectricityProdex exchange column as (PowerSystemRightNow column, sign), or
#: ``None`` where the area has no such link (served as null). Positive = import into the area;
#: Exchange_DK1_DK2 is positive into DK1, so DK2 sees the Great Belt with the opposite sign.
AREA_EXCHANGES: dict[str, dict[str, tuple[str, float] | None]] = {
    "DK1": {
        "ExchangeGreatBelt": ("Exchange_DK1_DK2", 1.0),
        "ExchangeGermany": ("Exchange_DK1_DE", 1.0),
        "ExchangeNetherlands": ("Exchange_DK1_NL", 1.0),
        "ExchangeGreatBritain": ("Exchange_DK1_GB", 1.0),
        "ExchangeNorway": ("Exchange_DK1_NO", 1.0),
        "ExchangeSweden": ("Exchange_DK1_SE", 1.0),
        "BornholmSE4": None,
    },
    "DK2": {
        "ExchangeGreatBelt": ("Exchange_DK1_DK2", -1.0),
        "ExchangeGermany": ("Exchange_DK2_DE", 1.0),
        "ExchangeNetherlands": None,
        "ExchangeGreatBritain": None,
        "ExchangeNorway": None,
        "ExchangeSweden": ("Exchange_DK2_SE", 1.0),
        "BornholmSE4": ("Exchange_Bornholm_SE", 1.0),
    },
}

#: Interconnector capacities (MW, symmetric) of the borders counted in Exchange_Sum.
BORDER_CAPACITY_MW: dict[str, float] = {
    "Exchange_DK1_DE": 2500.0,
    "Exchange_DK1_NL": 700.0,
    "Exchange_DK1_GB": 1400.0,
    "Exchange_DK1_NO": 1600.0,
    "Exchange_DK1_SE": 700.0,
    "Exchange_DK2_DE": 600.0,
    "Exchange_DK2_SE": 1300.0,
    "Exchange_Bornholm_SE": 60.0,
}
#: Typical direction of each border (fraction of capacity; + = import): hydro
#: from Norway/Sweden flows in, Denmark tends to export towards DE/GB.
_BORDER_BIAS: dict[str, float] = {
    "Exchange_DK1_DE": -0.15,
    "Exchange_DK1_NL": 0.05,
    "Exchange_DK1_GB": -0.10,
    "Exchange_DK1_NO": 0.25,
    "Exchange_DK1_SE": 0.20,
    "Exchange_DK2_DE": -0.10,
    "Exchange_DK2_SE": 0.25,
    "Exchange_Bornholm_SE": 0.35,
}
GREAT_BELT_CAPACITY_MW = 600.0
ONSHORE_CAPACITY_MW = 4800.0
OFFSHORE_CAPACITY_MW = 2700.0
SOLAR_CAPACITY_MW = 3600.0
_LATITUDE_DEG = 55.7
_LONGITUDE_DEG = 10.5

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_TWO_PI = 2.0 * np.pi
_YEAR_DAYS = 365.2425

_C0 = np.uint64(0x9E3779B97F4A7C15)
_C1 = np.uint64(0xBF58476D1CE4E5B9)
_C2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


# --------------------------------------------------------------------------- hashing


@lru_cache(maxsize=None)
def _channel_seed(channel: str) -> np.uint64:
    """Stable 64-bit seed per noise channel (blake2b is identical everywhere)."""
    digest = hashlib.blake2b(channel.encode(), digest_size=8, person=b"eds-standin").digest()
    return np.uint64(int.from_bytes(digest, "little"))


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser; uint64 array arithmetic wraps, which is what we want."""
    x = x + _C0
    x = (x ^ (x >> _S30)) * _C1
    x = (x ^ (x >> _S27)) * _C2
    return x ^ (x >> _S31)


def unit_hash(keys: np.ndarray, channel: str) -> np.ndarray:
    """Uniform [0, 1) value per integer key and channel, reproducible across machines."""
    x = np.asarray(keys, dtype=np.int64).astype(np.uint64) ^ _channel_seed(channel)
    return (_mix64(x) >> _S11).astype(np.float64) * (2.0**-53)


def white_noise(keys: np.ndarray, channel: str) -> np.ndarray:
    """Per-minute white noise in [-1, 1)."""
    return unit_hash(keys, channel) * 2.0 - 1.0


def smooth_noise(t: np.ndarray, period_minutes: float, channel: str) -> np.ndarray:
    """Smooth noise in [-1, 1]: hashed knots every ``period_minutes``, smoothstep between."""
    x = t / period_minutes
    k = np.floor(x)
    f = x - k
    ki = k.astype(np.int64)
    # Hash only the knots actually spanned (few for long periods), then gather.
    first, last = int(ki.min()), int(ki.max())
    if last - first < ki.size:
        knots = white_noise(np.arange(first, last + 2, dtype=np.int64), channel)
        a = knots[ki - first]
        b = knots[ki - first + 1]
    else:
        a = white_noise(ki, channel)
        b = white_noise(ki + 1, channel)
    s = f * f * (3.0 - 2.0 * f)
    return a + (b - a) * s


# --------------------------------------------------------------------------- time helpers


def minute_index(moment: datetime) -> int:
    """Whole minutes since the Unix epoch (floor); naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - _EPOCH) // timedelta(minutes=1)


def minute_to_datetime(index: int) -> datetime:
    """Inverse of :func:`minute_index` (aware UTC)."""
    return _EPOCH + timedelta(minutes=int(index))


def _last_sunday_0100_utc(year: int, month: int) -> int:
    last = date(year, month, 31)
    last -= timedelta(days=(last.weekday() + 1) % 7)
    return minute_index(datetime(last.year, last.month, last.day, 1, tzinfo=timezone.utc))


@lru_cache(maxsize=256)
def _dst_window(year: int) -> tuple[int, int]:
    """EU summer time (since 1996): last Sunday of March to last Sunday of October, 01:00 UTC."""
    return _last_sunday_0100_utc(year, 3), _last_sunday_0100_utc(year, 10)


def dk_offset_minutes(minutes: np.ndarray) -> np.ndarray:
    """UTC offset of Europe/Copenhagen (60 or 120) for each minute index, vectorised."""
    minutes = np.asarray(minutes, dtype=np.int64)
    years = minutes.astype("datetime64[m]").astype("datetime64[Y]").astype(np.int64) + 1970
    unique_years, inverse = np.unique(years, return_inverse=True)
    windows = np.array([_dst_window(int(y)) for y in unique_years], dtype=np.int64).reshape(-1, 2)
    start = windows[inverse, 0]
    end = windows[inverse, 1]
    return np.where((minutes >= start) & (minutes < end), 120, 60).astype(np.int64)


_DIGIT0 = np.uint32(ord("0"))


def _format_minutes(minutes: np.ndarray) -> np.ndarray:
    """'YYYY-MM-DDTHH:MM:SS' strings without zone, like the real API.

    Built digit by digit into a UCS-4 buffer: ~10x faster than
    ``np.datetime_as_string`` for year-long ranges. Years 1000-9999 only.
    """
    minutes = np.asarray(minutes, dtype=np.int64)
    stamp = minutes.astype("datetime64[m]")
    years_m = stamp.astype("datetime64[Y]")
    months_m = stamp.astype("datetime64[M]")
    days_m = stamp.astype("datetime64[D]")
    year = years_m.astype(np.int64) + 1970
    month = (months_m - years_m.astype("datetime64[M]")).astype(np.int64) + 1
    day = (days_m - months_m.astype("datetime64[D]")).astype(np.int64) + 1
    minute_of_day = minutes - days_m.astype("datetime64[m]").astype(np.int64)
    hour, minute = np.divmod(minute_of_day, 60)
    out = np.empty((minutes.size, 19), dtype=np.uint32)
    for col, value in ((0, year // 100), (2, year % 100), (5, month), (8, day), (11, hour), (14, minute)):
        tens, ones = np.divmod(value.astype(np.uint32), np.uint32(10))
        out[:, col] = tens + _DIGIT0
        out[:, col + 1] = ones + _DIGIT0
    out[:, 4] = out[:, 7] = ord("-")
    out[:, 10] = ord("T")
    out[:, 13] = out[:, 16] = ord(":")
    out[:, 17] = out[:, 18] = _DIGIT0
    return out.view("U19").reshape(minutes.shape)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


# --------------------------------------------------------------------------- the model


def power_system_right_now_columns(minutes: np.ndarray) -> dict[str, np.ndarray]:
    """Generate all ``PowerSystemRightNow`` columns for the given minute indices.

    Vectorised so a year (525,600 minutes) takes well under a second; the order
    of ``minutes`` is preserved. Timestamp columns are numpy string arrays,
    everything else float64 rounded to 2 decimals.
    """
    m = np.asarray(minutes, dtype=np.int64).ravel()
    t = m.astype(np.float64)
    day = t / 1440.0
    doy = np.mod(day, _YEAR_DAYS)  # 0 at 1 January (drifts < 1 day over leap cycles)
    winter = np.cos(_TWO_PI * (doy - 15.0) / _YEAR_DAYS)  # +1 mid-January, -1 mid-July
    utc_hour = np.mod(m, 1440).astype(np.float64) / 60.0

    offset = dk_offset_minutes(m)
    local = m + offset
    local_hour = np.mod(local, 1440).astype(np.float64) / 60.0
    local_weekday = np.mod(local // 1440 + 3, 7)  # 1970-01-01 was a Thursday (Monday = 0)
    hours_since_monday = local_weekday.astype(np.float64) * 24.0 + local_hour

    # --- consumption: daily shape (night trough, morning and evening peaks), weekly, seasonal
    h = np.where(hours_since_monday < 24.0, hours_since_monday + 168.0, hours_since_monday)
    weekend = _smoothstep((h - 118.0) / 4.0) - _smoothstep((h - 166.0) / 4.0)
    daily = (
        1.0
        - 0.12 * np.cos(_TWO_PI * (local_hour - 4.0) / 24.0)
        + 0.05 * np.exp(-(((local_hour - 9.0) / 2.5) ** 2))
        + 0.08 * np.exp(-(((local_hour - 18.0) / 1.8) ** 2))
    )
    load = (
        (4050.0 + 650.0 * winter)
        * daily
        * (1.0 - 0.09 * weekend)
        * (1.0 + 0.03 * smooth_noise(t, 360.0, "load6h"))
        + 6.0 * white_noise(m, "load1m")
    )

    # --- solar: sun elevation at ~55.7N/10.5E, clear-sky bell scaled by clouds
    lat = np.radians(_LATITUDE_DEG)
    decl = np.radians(23.44) * np.sin(_TWO_PI * (doy + 1.0 + 284.0) / 365.0)
    hour_angle = np.radians(15.0 * (utc_hour + _LONGITUDE_DEG / 15.0 - 12.0))
    sin_el = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    clouds = np.clip(
        0.6 + 0.35 * smooth_noise(t, 1440.0, "cloud24h") + 0.15 * smooth_noise(t, 120.0, "cloud2h"),
        0.0,
        1.0,
    )
    solar = np.where(
        sin_el > 0.0,
        SOLAR_CAPACITY_MW * 0.85 * np.power(np.clip(sin_el, 0.0, 1.0), 1.15) * (0.3 + 0.7 * clouds),
        0.0,
    )

    # --- wind: slow weather systems, windier in winter; offshore steadier and stronger
    weather = (
        0.42
        + 0.13 * winter
        + 0.33 * smooth_noise(t, 4320.0, "wind72h")
        + 0.16 * smooth_noise(t, 1080.0, "wind18h")
        + 0.06 * smooth_noise(t, 180.0, "wind3h")
    )
    onshore = ONSHORE_CAPACITY_MW * 0.92 * np.power(np.clip(weather, 0.0, 1.0), 1.5)
    onshore = np.clip(onshore * (1.0 + 0.002 * white_noise(m, "onshore1m")), 0.0, ONSHORE_CAPACITY_MW)
    offshore_weather = np.clip(weather + 0.08 + 0.08 * smooth_noise(t, 360.0, "offshore6h"), 0.0, 1.0)
    offshore = OFFSHORE_CAPACITY_MW * 0.95 * np.power(offshore_weather, 1.3)
    offshore = np.clip(offshore * (1.0 + 0.002 * white_noise(m, "offshore1m")), 0.0, OFFSHORE_CAPACITY_MW)

    # --- thermal: decentral CHP follows heat demand; central plants fill part of the residual
    lt100 = np.clip(
        420.0 + 220.0 * winter + 60.0 * smooth_noise(t, 720.0, "lt12h") + 0.05 * (load - 4000.0),
        150.0,
        1000.0,
    ) + 2.0 * white_noise(m, "lt1m")
    residual = load - onshore - offshore - solar - lt100
    ge100 = np.clip(
        350.0 + 250.0 * winter + 0.45 * np.clip(residual, 0.0, None) + 120.0 * smooth_noise(t, 1440.0, "ge24h"),
        120.0,
        3200.0,
    ) + 3.0 * white_noise(m, "ge1m")

    # --- net import closes the balance; curtail wind if exports would exceed the cables
    caps = np.array(list(BORDER_CAPACITY_MW.values()))
    max_exchange = 0.9 * caps.sum()
    net_import = load - (ge100 + lt100 + solar + onshore + offshore)
    excess = np.clip(-max_exchange - net_import, 0.0, None)
    wind = onshore + offshore
    keep = np.where(wind > 0.0, 1.0 - excess / np.maximum(wind, 1e-9), 1.0)
    onshore = onshore * keep
    offshore = offshore * keep
    net_import = np.clip(net_import + excess, -max_exchange, max_exchange)

    # --- split the net import over the borders: a smooth per-border pattern, then the
    # remainder proportionally to each border's headroom (keeps every flow within capacity)
    names = list(BORDER_CAPACITY_MW)
    base = np.stack(
        [
            BORDER_CAPACITY_MW[n] * (_BORDER_BIAS[n] + 0.45 * smooth_noise(t, 480.0 + 97.0 * i, n))
            for i, n in enumerate(names)
        ]
    )
    delta = net_import - base.sum(axis=0)
    headroom = np.where(delta > 0.0, caps[:, None] - base, caps[:, None] + base)
    flows = base + delta * headroom / np.maximum(headroom.sum(axis=0), 1e-9)
    flows = flows + 2.0 * np.stack([white_noise(m, n + "1m") for n in names])
    flows = np.round(np.clip(flows, -caps[:, None], caps[:, None]), 2)
    exchange_sum = np.round(flows.sum(axis=0), 2)
    great_belt = np.clip(
        GREAT_BELT_CAPACITY_MW * (0.15 + 0.5 * smooth_noise(t, 600.0, "greatbelt")) + 2.0 * white_noise(m, "gb1m"),
        -GREAT_BELT_CAPACITY_MW,
        GREAT_BELT_CAPACITY_MW,
    )

    # --- CO2 intensity follows the thermal share of production
    production = ge100 + lt100 + solar + onshore + offshore
    co2 = 12.0 + (ge100 * 380.0 + lt100 * 300.0) / np.maximum(production, 1.0)
    co2 = np.clip(co2 + 0.3 * white_noise(m, "co21m"), 5.0, 450.0)

    # --- balancing: small signed activations; mFRR is mostly zero with occasional ramps
    afrr1 = 45.0 * smooth_noise(t, 30.0, "afrr1") + 3.0 * white_noise(m, "afrr1m")
    afrr2 = 20.0 * smooth_noise(t, 35.0, "afrr2") + 2.0 * white_noise(m, "afrr2m")
    mfrr = []
    for zone in ("mfrr1", "mfrr2"):
        v = smooth_noise(t, 90.0, zone)
        mfrr.append(np.where(np.abs(v) > 0.7, np.sign(v) * (np.abs(v) - 0.7) / 0.3 * 250.0, 0.0))
    imb1 = 110.0 * smooth_noise(t, 45.0, "imb1") - 0.5 * afrr1 + 4.0 * white_noise(m, "imb1m")
    imb2 = 50.0 * smooth_noise(t, 50.0, "imb2") - 0.5 * afrr2 + 3.0 * white_noise(m, "imb2m")

    def r(x: np.ndarray) -> np.ndarray:
        return np.round(x, 2) + 0.0  # "+ 0.0" turns -0.0 into 0.0

    columns: dict[str, np.ndarray] = {
        "Minutes1UTC": _format_minutes(m),
        "Minutes1DK": _format_minutes(local),
        "CO2Emission": r(co2),
        "ProductionGe100MW": r(ge100),
        "ProductionLt100MW": r(lt100),
        "SolarPower": r(solar),
        "OffshoreWindPower": r(offshore),
        "OnshoreWindPower": r(onshore),
        "Exchange_Sum": exchange_sum + 0.0,
    }
    for i, name in enumerate(names[:5]):
        columns[name] = flows[i] + 0.0
    columns["Exchange_DK1_DK2"] = r(great_belt)
    for i, name in enumerate(names[5:], start=5):
        columns[name] = flows[i] + 0.0
    columns.update(
        {
            "aFRR_ActivatedDK1": r(afrr1),
            "aFRR_ActivatedDK2": r(afrr2),
            "mFRR_ActivatedDK1": r(mfrr[0]),
            "mFRR_ActivatedDK2": r(mfrr[1]),
            "ImbalanceDK1": r(imb1),
            "ImbalanceDK2": r(imb2),
        }
    )
    return {name: columns[name] for name in POWER_SYSTEM_RIGHT_NOW_FIELDS}


# --------------------------------------------------------------------------- 5-minute area datasets


def _area_values(minutes: np.ndarray, areas: np.ndarray) -> dict[str, np.ndarray]:
    """Unrounded per-area values for 5-minute slots (NaN where the area lacks a link).

    Each slot (starting at minute index ``m``) is the mean of PowerSystemRightNow's minutes
    ``m .. m+4`` as served (rounded), split by :data:`DK1_SHARE` and :data:`AREA_EXCHANGES`.
    Every distinct slot is generated once, however many area rows ask for it.
    """
    slots, inverse = np.unique(minutes, return_inverse=True)
    per_minute = power_system_right_now_columns((slots[:, None] + np.arange(5, dtype=np.int64)).ravel())

    def mean(name: str) -> np.ndarray:
        return per_minute[name].reshape(-1, 5).mean(axis=1)[inverse]

    dk1 = areas == 0
    values: dict[str, np.ndarray] = {
        name: np.where(dk1, share, 1.0 - share) * mean(name) for name, share in DK1_SHARE.items()
    }
    nan = np.full(minutes.size, np.nan)
    for column in AREA_EXCHANGES["DK1"]:
        by_area = []
        for area in PRICE_AREAS:
            source = AREA_EXCHANGES[area][column]
            by_area.append(nan if source is None else source[1] * mean(source[0]))
        values[column] = np.where(dk1, by_area[0], by_area[1])
    # CO2 intensity of the area's own production, with PowerSystemRightNow's emission factors:
    # the production-weighted mean of the two areas is the national formula on 5-minute means.
    production = sum(values[name] for name in DK1_SHARE)
    thermal = values["ProductionGe100MW"] * 380.0 + values["ProductionLt100MW"] * 300.0
    co2 = 12.0 + thermal / np.maximum(production, 1.0)
    values["CO2Emission"] = np.clip(co2 + 0.3 * white_noise(minutes // 5 * 2 + areas, "co2area5m"), 5.0, 450.0)
    return values


def _area_columns(minutes: np.ndarray, areas: np.ndarray, fields: tuple[str, ...]) -> dict[str, np.ndarray]:
    m = np.asarray(minutes, dtype=np.int64).ravel()
    a = np.asarray(areas, dtype=np.int64).ravel()
    if m.shape != a.shape:
        raise ValueError("minutes and areas must have the same length")
    if m.size == 0:
        values: dict[str, np.ndarray] = {f: np.empty(0) for f in fields}
    else:
        values = {name: np.round(v, 2) + 0.0 for name, v in _area_values(m, a).items()}
    values["Minutes5UTC"] = _format_minutes(m)
    values["Minutes5DK"] = _format_minutes(m + dk_offset_minutes(m)) if m.size else _format_minutes(m)
    values["PriceArea"] = np.asarray(PRICE_AREAS)[a] if m.size else np.empty(0, dtype="U3")
    return {name: values[name] for name in fields}


def electricity_prodex_5min_columns(minutes: np.ndarray, areas: np.ndarray) -> dict[str, np.ndarray]:
    """``ElectricityProdex5MinRealtime`` columns for rows (slot start minute, area index).

    ``minutes`` are multiples of 5 (the slot's first minute, as in Minutes5UTC), ``areas``
    index :data:`PRICE_AREAS`. Links an area lacks are NaN (served as null).
    """
    return _area_columns(minutes, areas, ELECTRICITY_PRODEX_5MIN_FIELDS)


def co2_emis_columns(minutes: np.ndarray, areas: np.ndarray) -> dict[str, np.ndarray]:
    """``CO2Emis`` columns for rows (slot start minute, area index); see :func:`_area_values`."""
    return _area_columns(minutes, areas, CO2_EMIS_FIELDS)


def _slot_rows(start_utc: datetime, end_utc: datetime) -> tuple[np.ndarray, np.ndarray]:
    minutes = _minute_range(start_utc, end_utc)
    slots = minutes[minutes % 5 == 0]
    return np.repeat(slots, len(PRICE_AREAS)), np.tile(np.arange(len(PRICE_AREAS)), slots.size)


def electricity_prodex_5min_records(start_utc: datetime, end_utc: datetime) -> list[dict]:
    """All rows with start <= slot < end, oldest first, DK1 then DK2 within a slot."""
    return columns_to_records(electricity_prodex_5min_columns(*_slot_rows(start_utc, end_utc)),
                              ELECTRICITY_PRODEX_5MIN_FIELDS)


def co2_emis_records(start_utc: datetime, end_utc: datetime) -> list[dict]:
    """All rows with start <= slot < end, oldest first, DK1 then DK2 within a slot."""
    return columns_to_records(co2_emis_columns(*_slot_rows(start_utc, end_utc)), CO2_EMIS_FIELDS)


def _json_list(values: np.ndarray) -> list:
    """Python values of a column; NaN in a float column becomes ``None`` (JSON null)."""
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        if missing.any():
            out = values.astype(object)
            out[missing] = None
            return out.tolist()
    return values.tolist()


def columns_to_records(columns: dict[str, np.ndarray], fields: tuple[str, ...] | list[str]) -> list[dict]:
    """Turn column arrays into JSON-ready dicts (Python str/float/None) in ``fields`` order."""
    lists = [_json_list(np.asarray(columns[f])) for f in fields]
    return [dict(zip(fields, row, strict=False)) for row in zip(*lists, strict=False)]


def power_system_right_now_record(minute_utc: datetime) -> dict:
    """One record for the minute containing ``minute_utc`` (naive = UTC); pure and deterministic."""
    cols = power_system_right_now_columns(np.array([minute_index(minute_utc)], dtype=np.int64))
    return columns_to_records(cols, POWER_SYSTEM_RIGHT_NOW_FIELDS)[0]


def _minute_range(start_utc: datetime, end_utc: datetime) -> np.ndarray:
    lo = -((_EPOCH - _aware(start_utc)) // timedelta(minutes=1))  # ceil: start is inclusive
    hi = -((_EPOCH - _aware(end_utc)) // timedelta(minutes=1))  # end is exclusive
    return np.arange(lo, max(lo, hi), dtype=np.int64)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def power_system_right_now_records(start_utc: datetime, end_utc: datetime) -> list[dict]:
    """All records with start <= minute < end, oldest first."""
    minutes = _minute_range(start_utc, end_utc)
    return columns_to_records(power_system_right_now_columns(minutes), POWER_SYSTEM_RIGHT_NOW_FIELDS)


def power_system_right_now_frame(start_utc: datetime, end_utc: datetime) -> pd.DataFrame:
    """Same as :func:`power_system_right_now_records` but as a DataFrame (fast for long ranges)."""
    import pandas as pd

    return pd.DataFrame(power_system_right_now_columns(_minute_range(start_utc, end_utc)))
