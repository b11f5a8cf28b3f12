"""Local stand-ins for the public grid-data APIs, so demos and tests never need the internet.

Today: Energi Data Service (``PowerSystemRightNow``), served over real HTTP with
the real API's parameters, envelope, rate limit and error shapes, backed by a
deterministic synthetic data generator.

    with StandinServer(StandinConfig(rate_limit_per_minute=0)) as server:
        requests.get(f"{server.url}/dataset/PowerSystemRightNow", params={"limit": 5})
"""

from __future__ import annotations

from .http import FaultConfig
from .server import StandinConfig, StandinServer, build_app, serve_forever

__all__ = ["FaultConfig", "StandinConfig", "StandinServer", "build_app", "serve_forever"]
