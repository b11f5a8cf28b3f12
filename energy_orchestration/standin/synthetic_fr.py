"""Deterministic synthetic éCO2mix data (RTE, France): 12 regions and their national sum.

Every value is a pure function of (quarter-hour, region, revision state), built from
hash-based noise (splitmix64 over blake2b-seeded channels, see :func:`synthetic_dk.unit_hash`),
so any range can be generated independently and identically on every machine; Python's
``hash()`` and ``random`` are never used.

The model is plausible rather than faithful:

- consumption per region: daily shape (night trough, midday plateau, evening peak), weekend
  dip, and heating sensitivity to a temperature-like signal (seasonal + weather + daily cycle);
- nuclear where the plants are (84, 24, 28, 44, 75, 32, 76), with seasonal availability;
- solar from the sun's elevation at each region's latitude/longitude (south strongest);
- wind from slow weather systems, strongest in the north (32, 44); coastal offshore farms are
  part of the region's ``eolien`` and of the national ``eolien_offshore``;
- hydro in the mountains (84, 76, 93) with spring melt and peaking; pumping (``pompage`` <= 0)
  at night and at sunny middays where pumped storage exists;
- thermal fills the national residual demand, shared out by each region's fleet;
- ``ech_physiques`` closes each region's balance (``consommation = production + pompage +
  ech_physiques + batteries``), so the national value is the international exchange.

National rows are sums of the regional integers for the fields that exist in both; the
national thermal total is split into gaz/charbon/fioul, and ``taux_co2`` is the life-cycle
intensity of the mix (external-apis.md §3 factors).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np

from .synthetic_dk import dk_offset_minutes, smooth_noise, white_noise

__all__ = [
    "EMISSION_FACTORS",
    "NATIONAL_FIELDS",
    "NATURE_LABELS",
    "REGIONS",
    "REGIONAL_FIELDS",
    "REGION_CODES",
    "Region",
    "format_utc",
    "national_columns",
    "paris_offset_minutes",
    "regional_columns",
]

#: ``nature`` text by status code (0 real time, 1 consolidated, 2 definitive).
NATURE_LABELS = ("Données temps réel", "Données consolidées", "Données définitives")

#: Life-cycle emission factors, gCO2eq/kWh (IPCC 2014 via Electricity Maps; external-apis.md §3).
EMISSION_FACTORS = {
    "charbon": 820.0, "gaz": 490.0, "fioul": 650.0, "bioenergies": 230.0, "solaire": 45.0,
    "hydraulique": 24.0, "nucleaire": 12.0, "eolien": 11.0,
}


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    lat: float
    lon: float
    load_mw: float  # mild-weather weekday level
    heating_per_degree: float  # relative load increase per degree below 15 °C
    temp_offset: float  # °C relative to the national signal
    nuclear_mw: float
    solar_mw: float
    onshore_mw: float
    offshore_mw: float
    hydro_mw: float
    pump_mw: float
    thermal_share: float  # share of the national thermal dispatch
    bio_mw: float
    battery_mw: float
    wind_bias: float = 0.0


REGIONS: tuple[Region, ...] = (
    Region("11", "Île-de-France", 48.85, 2.35, 6700, 0.050, 0.5, 0, 250, 60, 0, 20, 0, 0.06, 150, 10),
    Region("24", "Centre-Val de Loire", 47.5, 1.7, 1800, 0.055, 0.0, 11700, 800, 1500, 0, 90, 0, 0.0, 60, 5),
    Region("27", "Bourgogne-Franche-Comté", 47.2, 5.0, 2000, 0.060, -1.0, 0, 600, 1000, 0, 300, 70, 0.01, 70, 5),
    Region("28", "Normandie", 49.2, 0.4, 2600, 0.055, 0.0, 11500, 350, 900, 500, 50, 0, 0.03, 90, 10, 0.04),
    Region("32", "Hauts-de-France", 50.3, 2.8, 4800, 0.050, -0.5, 5460, 500, 5500, 0, 10, 0, 0.30, 120, 20, 0.06),
    Region("44", "Grand Est", 48.7, 6.2, 4400, 0.060, -1.5, 9300, 1200, 4300, 0, 1800, 800, 0.20, 120, 20, 0.03),
    Region("52", "Pays de la Loire", 47.4, -0.8, 2700, 0.055, 0.5, 0, 900, 1300, 480, 20, 0, 0.12, 110, 10, 0.03),
    Region("53", "Bretagne", 48.2, -2.9, 2150, 0.055, 1.0, 0, 400, 1300, 500, 80, 0, 0.07, 90, 15, 0.05),
    Region("75", "Nouvelle-Aquitaine", 45.5, 0.3, 4150, 0.050, 1.5, 6500, 4500, 1800, 0, 1600, 0, 0.02, 120, 30),
    Region("76", "Occitanie", 43.8, 2.2, 3800, 0.045, 2.5, 2600, 3200, 1700, 0, 5300, 900, 0.0, 100, 20),
    Region("84", "Auvergne-Rhône-Alpes", 45.6, 4.8, 6000, 0.055, -0.5, 13600, 2000, 700, 0, 11500, 3000, 0.07, 150,
           15, -0.04),
    Region("93", "Provence-Alpes-Côte d'Azur", 43.8, 6.0, 3900, 0.040, 3.0, 0, 2300, 100, 0, 3200, 100, 0.15, 90, 30,
           -0.05),
)
REGION_CODES: tuple[str, ...] = tuple(r.code for r in REGIONS)
NATIONAL_THERMAL_MAX_MW = 9000.0

REGIONAL_FIELDS: tuple[str, ...] = (
    "code_insee_region", "libelle_region", "nature", "date", "heure", "date_heure", "consommation", "thermique",
    "nucleaire", "eolien", "solaire", "hydraulique", "pompage", "bioenergies", "ech_physiques", "stockage_batterie",
    "destockage_batterie", "tco_thermique", "tch_thermique", "tco_nucleaire", "tch_nucleaire", "tco_eolien",
    "tch_eolien", "tco_solaire", "tch_solaire", "tco_hydraulique", "tch_hydraulique", "tco_bioenergies",
    "tch_bioenergies", "column_68",
)
NATIONAL_FIELDS: tuple[str, ...] = (
    "perimetre", "nature", "date", "heure", "date_heure", "consommation", "prevision_j1", "prevision_j", "fioul",
    "charbon", "gaz", "nucleaire", "eolien", "eolien_terrestre", "eolien_offshore", "solaire", "hydraulique",
    "pompage", "bioenergies", "ech_physiques", "taux_co2", "ech_comm_angleterre", "ech_comm_espagne",
    "ech_comm_italie", "ech_comm_suisse", "ech_comm_allemagne_belgique", "fioul_tac", "fioul_cogen", "fioul_autres",
    "gaz_tac", "gaz_cogen", "gaz_ccg", "gaz_autres", "hydraulique_fil_eau_eclusee", "hydraulique_lacs",
    "hydraulique_step_turbinage", "bioenergies_dechets", "bioenergies_biomasse", "bioenergies_biogaz",
    "stockage_batterie", "destockage_batterie",
)
#: National fields sent as JSON strings before 2026 (their type changed between years).
NATIONAL_STRING_FIELDS_BEFORE_2026 = ("eolien_terrestre", "eolien_offshore", "stockage_batterie",
                                      "destockage_batterie")
#: Regional fields always sent as JSON strings.
REGIONAL_STRING_FIELDS = ("pompage", "stockage_batterie", "destockage_batterie")
_STRING_YEAR_END_MINUTE = int((datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()) // 60)

_TWO_PI = 2.0 * np.pi
_YEAR_DAYS = 365.2425
_N = len(REGIONS)


def _attr(name: str) -> np.ndarray:
    return np.array([getattr(r, name) for r in REGIONS], dtype=np.float64)


_LOAD, _HEAT, _TOFF = _attr("load_mw"), _attr("heating_per_degree"), _attr("temp_offset")
_NUC, _SOLAR, _ON, _OFF = _attr("nuclear_mw"), _attr("solar_mw"), _attr("onshore_mw"), _attr("offshore_mw")
_HYDRO, _PUMP, _BIO, _BATT = _attr("hydro_mw"), _attr("pump_mw"), _attr("bio_mw"), _attr("battery_mw")
_TH_SHARE = _attr("thermal_share") / _attr("thermal_share").sum()
_WIND_BIAS, _LAT, _LON = _attr("wind_bias"), _attr("lat"), _attr("lon")
_REGION_INDEX = np.arange(_N, dtype=np.int64)


# --------------------------------------------------------------------------- noise and time


def _regional_smooth(t: np.ndarray, period: float, channel: str) -> np.ndarray:
    """(n, regions) smooth noise, one independent channel per region."""
    return np.stack([smooth_noise(t, period, f"{channel}-{code}") for code in REGION_CODES], axis=1)


def paris_offset_minutes(minutes: np.ndarray) -> np.ndarray:
    """UTC offset of Europe/Paris (60 or 120) per minute index: the EU rule Copenhagen shares."""
    return dk_offset_minutes(minutes)


def format_utc(minutes: np.ndarray) -> np.ndarray:
    """``2026-08-27T07:45:00+00:00`` per minute index."""
    text = np.datetime_as_string(np.asarray(minutes, dtype=np.int64).astype("datetime64[m]"), unit="s")
    return np.char.add(text, "+00:00")


def _local_fields(minutes: np.ndarray) -> tuple[list[str], list[str]]:
    local = np.asarray(minutes, dtype=np.int64) + paris_offset_minutes(minutes)
    text = np.datetime_as_string(local.astype("datetime64[m]"), unit="m")  # YYYY-MM-DDTHH:MM
    return [s[:10] for s in text.tolist()], [s[11:16] for s in text.tolist()]


# --------------------------------------------------------------------------- the model


def _model(minutes: np.ndarray, revised: np.ndarray) -> dict[str, np.ndarray]:
    """Every regional flow as (n, regions) int64 arrays, plus national helper signals.

    ``revised`` marks the minutes whose values are the consolidated revision (a small,
    deterministic correction of the real-time values).
    """
    m = np.asarray(minutes, dtype=np.int64)
    t = m.astype(np.float64)
    doy = np.mod(t / 1440.0, _YEAR_DAYS)
    winter = np.cos(_TWO_PI * (doy - 15.0) / _YEAR_DAYS)  # +1 mid-January, -1 mid-July
    local = m + paris_offset_minutes(m)
    hour = np.mod(local, 1440).astype(np.float64) / 60.0
    weekday = np.mod(local // 1440 + 3, 7)  # Monday = 0
    weekend = np.where(weekday >= 5, 1.0, 0.0)
    utc_hour = np.mod(m, 1440).astype(np.float64) / 60.0
    col = (slice(None), None)  # broadcast (n,) against (n, regions)

    # temperature-like signal (a smoothed daily mean: buildings react slowly): season and
    # weather systems, regional offsets; the afternoon warmth only matters for cooling
    temp_nat = 12.0 - 7.0 * winter + 4.0 * smooth_noise(t, 5760.0, "temp96h") + 1.5 * smooth_noise(t, 1440.0, "temp24h")
    temp = temp_nat[col] + _TOFF + 1.2 * _regional_smooth(t, 2880.0, "temp")
    heating = np.maximum(0.0, 15.0 - temp)
    cooling = np.maximum(0.0, temp + 3.0 * np.cos(_TWO_PI * (hour - 15.0) / 24.0)[col] - 24.0)
    daily = (1.0 - 0.10 * np.cos(_TWO_PI * (hour - 4.0) / 24.0) + 0.05 * np.exp(-(((hour - 12.0) / 2.5) ** 2))
             + 0.07 * np.exp(-(((hour - 19.5) / 1.8) ** 2)))
    # heating demand is highest in the morning and the evening, lowest in the small hours
    heating_shape = (0.8 + 0.25 * np.exp(-(((hour - 8.0) / 2.0) ** 2))
                     + 0.35 * np.exp(-(((hour - 19.0) / 2.5) ** 2)))
    load = (_LOAD * (daily * (1.0 - 0.08 * weekend))[col]
            * (1.0 + _HEAT * heating * heating_shape[col] + 0.02 * cooling)
            * (1.0 + 0.015 * _regional_smooth(t, 360.0, "load")))

    night = np.exp(-(((hour - 4.0) / 3.0) ** 2))
    availability = np.clip(0.70 + 0.12 * winter[col] + 0.12 * _regional_smooth(t, 20160.0, "nuclear"), 0.3, 0.96)
    nuclear = _NUC * availability * (1.0 - 0.04 * night)[col]

    decl = np.radians(23.44) * np.sin(_TWO_PI * (doy + 1.0 + 284.0) / 365.0)
    lat = np.radians(_LAT)
    hour_angle = np.radians(15.0 * (utc_hour[col] + _LON / 15.0 - 12.0))
    sin_el = np.sin(lat) * np.sin(decl)[col] + np.cos(lat) * np.cos(decl)[col] * np.cos(hour_angle)
    clouds = np.clip(0.6 + 0.3 * smooth_noise(t, 1440.0, "clouds")[col] + 0.2 * _regional_smooth(t, 720.0, "clouds")
                     + 0.1 * (46.5 - _LAT) / 3.0, 0.0, 1.0)
    solar = np.where(sin_el > 0.0, _SOLAR * 0.85 * np.power(np.clip(sin_el, 0.0, 1.0), 1.15) * (0.3 + 0.7 * clouds),
                     0.0)

    weather = (0.33 + 0.12 * winter + 0.25 * smooth_noise(t, 4320.0, "wind72h")
               + 0.12 * smooth_noise(t, 1080.0, "wind18h"))
    regional_wind = np.clip(weather[col] + _WIND_BIAS + 0.08 * _regional_smooth(t, 720.0, "wind"), 0.0, 1.0)
    onshore = _ON * 0.9 * np.power(regional_wind, 1.6)
    offshore = _OFF * 0.93 * np.power(np.clip(regional_wind + 0.1, 0.0, 1.0), 1.4)

    melt = 0.5 + 0.5 * np.cos(_TWO_PI * (doy - 150.0) / _YEAR_DAYS)
    peaks = np.exp(-(((hour - 9.0) / 2.5) ** 2)) + 1.2 * np.exp(-(((hour - 19.5) / 2.0) ** 2))
    hydro = _HYDRO * np.clip((0.08 + 0.12 * melt + 0.17 * peaks)[col] + 0.05 * _regional_smooth(t, 2880.0, "hydro"),
                             0.03, 0.95)

    summer = np.clip(-winter, 0.0, 1.0)
    pump_profile = (0.8 * np.exp(-(((hour - 3.5) / 2.5) ** 2))
                    + 0.5 * summer * np.exp(-(((hour - 13.5) / 2.0) ** 2)))[col] + 0.15 * _regional_smooth(
        t, 240.0, "pump")
    pumping = -_PUMP * np.where(pump_profile > 0.15, np.clip(pump_profile, 0.0, 1.0), 0.0)

    bio = _BIO * (1.0 + 0.05 * winter[col] + 0.08 * _regional_smooth(t, 2880.0, "bio"))

    charge = np.clip(0.8 * np.exp(-(((hour - 13.0) / 2.0) ** 2))[col] + 0.3 * _regional_smooth(t, 240.0, "bc"), 0.0,
                     1.0)
    discharge = np.clip(np.exp(-(((hour - 19.5) / 1.5) ** 2))[col] + 0.3 * _regional_smooth(t, 240.0, "bd"), 0.0,
                        1.0)

    residual = (load - nuclear - onshore - offshore - solar - hydro - bio).sum(axis=1)
    thermal_nat = np.clip(1200.0 + 2500.0 * np.maximum(winter, 0.0) + 0.4 * np.maximum(residual, 0.0)
                          + 200.0 * smooth_noise(t, 1440.0, "thermal"), 600.0, NATIONAL_THERMAL_MAX_MW)
    thermal = thermal_nat[col] * _TH_SHARE

    flows = {"consommation": load, "thermique": thermal, "nucleaire": nuclear, "eolien_terrestre": onshore,
             "eolien_offshore": offshore, "solaire": solar, "hydraulique": hydro, "bioenergies": bio}
    if revised.any():  # consolidated values: each measured flow corrected by up to ±0.6 %
        keys = m[:, None] * 100 + _REGION_INDEX
        for name in flows:
            correction = 1.0 + 0.006 * white_noise(keys, f"revision-{name}")
            flows[name] = np.where(revised[col], flows[name] * correction, flows[name])
    out = {name: np.rint(values).astype(np.int64) for name, values in flows.items()}
    out["eolien"] = out["eolien_terrestre"] + out["eolien_offshore"]
    out["pompage"] = np.rint(pumping).astype(np.int64)
    out["stockage_batterie"] = -np.rint(_BATT * charge).astype(np.int64)
    out["destockage_batterie"] = np.rint(_BATT * discharge).astype(np.int64)
    production = sum(out[k] for k in ("thermique", "nucleaire", "eolien", "solaire", "hydraulique", "bioenergies"))
    out["ech_physiques"] = out["consommation"] - production - out["pompage"] - out["stockage_batterie"] \
        - out["destockage_batterie"]
    out["_winter"] = winter
    out["_peaks"] = peaks
    return out


def _unique(minutes: np.ndarray, status: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    unique, first, inverse = np.unique(np.asarray(minutes, dtype=np.int64), return_index=True, return_inverse=True)
    return unique, np.asarray(status)[first] > 0, inverse


def _ratio(numerator: np.ndarray, denominator: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.round(np.where(denominator > 0, numerator * 100.0 / denominator, 0.0), 2) + 0.0


def regional_columns(minutes: np.ndarray, regions: np.ndarray, status: np.ndarray) -> dict[str, list]:
    """JSON-ready values of every regional field for the rows (minute, region index, status).

    ``status`` per row: 0 real time, 1 consolidated (revised values), 2 definitive.
    """
    minutes = np.asarray(minutes, dtype=np.int64)
    regions = np.asarray(regions, dtype=np.int64)
    status = np.asarray(status, dtype=np.int64)
    if minutes.size == 0:
        return {f: [] for f in REGIONAL_FIELDS}
    unique, revised, inverse = _unique(minutes, status)
    model = _model(unique, revised)
    pick = {name: values[inverse, regions] for name, values in model.items() if not name.startswith("_")}
    dates, hours = _local_fields(minutes)
    load = pick["consommation"].astype(np.float64)
    capacity = {"thermique": _TH_SHARE[regions] * NATIONAL_THERMAL_MAX_MW, "nucleaire": _NUC[regions],
                "eolien": _ON[regions] + _OFF[regions], "solaire": _SOLAR[regions], "hydraulique": _HYDRO[regions],
                "bioenergies": _BIO[regions] * 1.2}
    columns: dict[str, list] = {
        "code_insee_region": [REGION_CODES[i] for i in regions.tolist()],
        "libelle_region": [REGIONS[i].name for i in regions.tolist()],
        "nature": [NATURE_LABELS[s] for s in status.tolist()],
        "date": dates,
        "heure": hours,
        "date_heure": format_utc(minutes).tolist(),
    }
    for name in ("consommation", "thermique", "nucleaire", "eolien", "solaire", "hydraulique", "pompage",
                 "bioenergies", "ech_physiques", "stockage_batterie", "destockage_batterie"):
        values = pick[name]
        columns[name] = [str(v) for v in values.tolist()] if name in REGIONAL_STRING_FIELDS else values.tolist()
    for name, cap in capacity.items():
        columns[f"tco_{name}"] = _ratio(pick[name], load).tolist()
        tch = _ratio(pick[name], cap).tolist()
        if name == "nucleaire":  # regions without a nuclear plant publish null, not 0
            tch = [None if c <= 0 else v for c, v in zip(cap.tolist(), tch, strict=False)]
        columns[f"tch_{name}"] = tch
    columns["column_68"] = [None] * minutes.size
    return {f: columns[f] for f in REGIONAL_FIELDS}


def _split(total: np.ndarray, shares: list[np.ndarray]) -> list[np.ndarray]:
    """Integer parts of ``total`` by fractional ``shares`` (each clipped to what is left); the
    last part takes the remainder, so the parts always sum to ``total`` and none is negative."""
    parts: list[np.ndarray] = []
    left = total.copy()
    for share in shares:
        part = np.minimum(left, np.maximum(0, np.rint(total * share).astype(np.int64)))
        parts.append(part)
        left = left - part
    parts.append(left)
    return parts


def national_columns(minutes: np.ndarray, status: np.ndarray, forecast_only: np.ndarray) -> dict[str, list]:
    """JSON-ready values of every national field for the rows (minute, status, forecast-only).

    Forecast-only rows (the future part of the real-time set) carry only ``prevision_j`` and
    ``prevision_j1``; every measured field is null.
    """
    minutes = np.asarray(minutes, dtype=np.int64)
    status = np.asarray(status, dtype=np.int64)
    forecast_only = np.asarray(forecast_only, dtype=bool)
    if minutes.size == 0:
        return {f: [] for f in NATIONAL_FIELDS}
    unique, revised, inverse = _unique(minutes, status)
    model = _model(unique, revised)
    total = {name: values.sum(axis=1)[inverse] for name, values in model.items() if not name.startswith("_")}
    winter = model["_winter"][inverse]
    peaks = model["_peaks"][inverse]
    t = minutes.astype(np.float64)

    thermal = total["thermique"]
    region_52 = REGION_CODES.index("52")
    coal = np.minimum(thermal, np.rint(model["thermique"][inverse, region_52] * 0.6
                                       * np.clip(winter, 0.0, 1.0)).astype(np.int64))
    oil = np.minimum(thermal - coal, np.rint(30.0 + 70.0 * np.maximum(winter, 0.0) + 0.01 * thermal)
                     .astype(np.int64))
    gas = thermal - coal - oil
    consumption = total["consommation"]
    forecast_d1 = (np.rint(consumption * (1.0 + 0.02 * smooth_noise(t, 240.0, "forecast-d1")) / 50.0)
                   * 50).astype(np.int64)
    forecast_d0 = (np.rint(consumption * (1.0 + 0.01 * smooth_noise(t, 180.0, "forecast-d0")) / 50.0)
                   * 50).astype(np.int64)
    wind = total["eolien"]
    production = (gas + coal + oil + total["nucleaire"] + wind + total["solaire"] + total["hydraulique"]
                  + total["bioenergies"])
    emissions = (gas * EMISSION_FACTORS["gaz"] + coal * EMISSION_FACTORS["charbon"] + oil * EMISSION_FACTORS["fioul"]
                 + total["bioenergies"] * EMISSION_FACTORS["bioenergies"]
                 + total["solaire"] * EMISSION_FACTORS["solaire"]
                 + total["hydraulique"] * EMISSION_FACTORS["hydraulique"]
                 + total["nucleaire"] * EMISSION_FACTORS["nucleaire"] + wind * EMISSION_FACTORS["eolien"])
    co2 = np.rint(emissions / np.maximum(production, 1)).astype(np.int64)

    exchange = total["ech_physiques"]
    border_weights = [np.full(minutes.size, w) + 0.1 * smooth_noise(t, 720.0, f"border-{name}")
                      for name, w in (("angleterre", 0.25), ("espagne", 0.15), ("italie", 0.25), ("suisse", 0.15))]
    commercial = [np.rint(exchange * w).astype(np.int64) for w in border_weights]
    commercial.append(exchange - sum(commercial))
    half_hour = np.mod(minutes, 30) == 0

    oil_tac, oil_cogen, oil_other = _split(oil, [np.full(minutes.size, 0.05), np.full(minutes.size, 0.9)])
    gas_tac, gas_cogen, gas_other, gas_ccg = _split(
        gas, [0.02 * np.clip(peaks, 0.0, 1.0), 0.15 + 0.2 * np.maximum(winter, 0.0), np.full(minutes.size, 0.01)])
    hydro_step, hydro_lakes, hydro_river = _split(total["hydraulique"], [0.12 * peaks, np.full(minutes.size, 0.3)])
    bio_waste, bio_biomass, bio_biogas = _split(total["bioenergies"], [np.full(minutes.size, 0.43),
                                                                       np.full(minutes.size, 0.29)])
    dates, hours = _local_fields(minutes)
    values: dict[str, np.ndarray] = {
        "consommation": consumption, "fioul": oil, "charbon": coal, "gaz": gas, "nucleaire": total["nucleaire"],
        "eolien": wind, "eolien_terrestre": total["eolien_terrestre"], "eolien_offshore": total["eolien_offshore"],
        "solaire": total["solaire"], "hydraulique": total["hydraulique"], "pompage": total["pompage"],
        "bioenergies": total["bioenergies"], "ech_physiques": exchange, "taux_co2": co2,
        "fioul_tac": oil_tac, "fioul_cogen": oil_cogen, "fioul_autres": oil_other,
        "gaz_tac": gas_tac, "gaz_cogen": gas_cogen, "gaz_ccg": gas_ccg, "gaz_autres": gas_other,
        "hydraulique_fil_eau_eclusee": hydro_river, "hydraulique_lacs": hydro_lakes,
        "hydraulique_step_turbinage": hydro_step, "bioenergies_dechets": bio_waste,
        "bioenergies_biomasse": bio_biomass, "bioenergies_biogaz": bio_biogas,
        "stockage_batterie": total["stockage_batterie"], "destockage_batterie": total["destockage_batterie"],
    }
    for name, flows in zip(("angleterre", "espagne", "italie", "suisse", "allemagne_belgique"), commercial,
                           strict=False):
        values[f"ech_comm_{name}"] = flows
    as_string = minutes < _STRING_YEAR_END_MINUTE
    columns: dict[str, list] = {
        "perimetre": ["France"] * minutes.size,
        "nature": [NATURE_LABELS[s] for s in status.tolist()],
        "date": dates,
        "heure": hours,
        "date_heure": format_utc(minutes).tolist(),
        "prevision_j1": forecast_d1.tolist(),
        "prevision_j": forecast_d0.tolist(),
    }
    future = forecast_only.tolist()
    strings = as_string.tolist()
    halves = half_hour.tolist()
    for name, array in values.items():
        listed = array.tolist()
        if name in NATIONAL_STRING_FIELDS_BEFORE_2026:
            listed = [str(v) if s else v for v, s in zip(listed, strings, strict=False)]
        if name.startswith("ech_comm_"):
            listed = [v if h else None for v, h in zip(listed, halves, strict=False)]
        columns[name] = [None if f else v for v, f in zip(listed, future, strict=False)]
    return {f: columns[f] for f in NATIONAL_FIELDS}
