"""Life-cycle emission factors for zones that publish no CO2 intensity (French regions).

Versioned with provenance: a computed intensity always says which table produced it, so a new
table never silently rewrites history. Per-zone overrides take precedence over the defaults
("*"). The warehouse seeds ``emission_factors`` from here (warehouse/schema.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EmissionFactor:
    version: str
    zone: str           # "*" = every zone without its own override
    mode: str           # production mode of model.PRODUCTION_MODES
    g_co2eq_per_kwh: float
    source: str


IPCC_2014 = "Electricity Maps default life-cycle factors (IPCC 2014 AR5 medians), via shared/external-apis.md §3"

FACTORS: tuple[EmissionFactor, ...] = tuple(
    EmissionFactor("2014-ipcc-v1", "*", mode, value, IPCC_2014)
    for mode, value in {
        "coal": 820.0, "gas": 490.0, "oil": 650.0, "unknown": 700.0, "thermal_other": 700.0,
        "bioenergy": 230.0, "solar": 45.0, "hydro": 24.0, "nuclear": 12.0,
        "wind_onshore": 11.0, "wind_offshore": 11.0,
    }.items()
)
"""``thermal_other`` has no factor of its own in the source; it is treated as ``unknown``."""

CURRENT_VERSION = "2014-ipcc-v1"
