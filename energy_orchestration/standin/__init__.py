"""Local stand-ins for the public grid-data APIs, so demos and tests never need the internet.

Today: Energi Data Service (``PowerSystemRightNow``) and ODRÉ éCO2mix (Opendatasoft
Explore API v2.1: ``eco2mix-regional-tr``, ``eco2mix-national-tr``,
``eco2mix-regional-cons-def``, ``eco2mix-national-cons-def``), served by one process over real HTTP with the real
APIs' parameters, envelopes, limits and error shapes, backed by deterministic
synthetic data generators.

    with StandinServer(StandinConfig(rate_limit_per_minute=0)) as server:
        requests.get(f"{server.url}/dataset/PowerSystemRightNow", params={"limit": 5})
"""

from __future__ import annotations

from .http import FaultConfig
from .odre import OdreStandinConfig
from .server import StandinConfig, StandinServer, build_app, serve_forever

__all__ = ["FaultConfig", "OdreStandinConfig", "StandinConfig", "StandinServer", "build_app", "serve_forever"]
