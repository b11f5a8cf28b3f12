"""The dashboard's history view in headless Chromium over the year benchmark's warehouse: how long
a year of daily points takes from request to drawn charts, against the same year drawn from the
hourly table (the baseline, same run), and a week of minute data.

The warehouse is built as ``benchmarks/year_pipeline.py`` builds it (a year of PowerSystemRightNow
from the HTTP stand-in through the embedded broker and the landing consumer into DuckDB, then every
aggregate), not from generated aggregate rows: the page reads what the pipeline really leaves.
Zone ``DK`` (PowerSystemRightNow's national production, net exchange and reported CO2, plus the
computed CO2 intensity). The platform clock is pinned after the year, so nothing depends on today.

Per case, ``--rounds`` fresh page loads; the page itself measures (``dashboardState``): fetch =
request sent -> JSON parsed, render = JSON parsed -> every chart updated and drawn (Chart.js draws
synchronously with animations off), load = both.

    .venv/bin/python -m benchmarks.dashboard_render [--days 365] [--rounds 5] [--keep PATH]

``--keep PATH`` keeps the year warehouse there and reuses it on the next run (no rebuild).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import requests
from playwright.sync_api import sync_playwright

from benchmarks.year_pipeline import aggregate_year, land_year
from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.serving.server import ApiServer
from energy_orchestration.standin import StandinConfig, StandinServer
from energy_orchestration.streaming.broker import EmbeddedBroker, free_port
from energy_orchestration.warehouse import Warehouse

RESULTS = Path(__file__).with_name("results")
CHROMIUM = "/usr/bin/chromium"
PINNED_NOW = "2026-01-02T00:00:00Z"
ZONE = "DK"
CASES = {
    "year_daily": {"range": "year", "date": "2025-06-01"},
    "baseline_year_hourly": {"range": "year", "date": "2025-06-01", "grain": "hourly"},
    "week_minute": {"range": "custom", "from": "2025-06-02", "to": "2025-06-08", "grain": "minute"},
    "week_auto_hourly": {"range": "week", "date": "2025-06-02"},
    "day_auto_minute": {"range": "day", "date": "2025-06-02"},
}

MEASURE = """() => ({
  fetch_ms: dashboardState.fetchMs, render_ms: dashboardState.renderMs, load_ms: dashboardState.loadMs,
  grain: dashboardState.grain,
  points: Object.values(Chart.instances)
    .reduce((n, c) => n + c.data.datasets.reduce((m, d) => m + d.data.length, 0), 0),
})"""


def measure(page, base: str, params: dict[str, str], rounds: int) -> dict:
    runs = []
    for _ in range(rounds):
        page.goto(f"{base}/?{'&'.join(f'{k}={v}' for k, v in {'zone': ZONE, **params}.items())}")
        page.wait_for_function("Number(document.body.dataset.loads || 0) > 0", timeout=120_000)
        runs.append(page.evaluate(MEASURE))
    query = {"from": params.get("from", params.get("date")), "to": params.get("to", params.get("date"))}
    if params["range"] in ("year", "week", "day"):
        query = {"from": page.evaluate("dashboardState.from"), "to": page.evaluate("dashboardState.to")}
    if "grain" in params:
        query["grain"] = params["grain"]
    payload = requests.get(f"{base}/api/v1/zones/{ZONE}/series", params=query, timeout=120)
    return {"params": params, "grain": runs[-1]["grain"], "points_drawn": runs[-1]["points"],
            "payload_kb": round(len(payload.content) / 1024, 1),
            **{f"{key}_median": round(statistics.median(r[key] for r in runs), 1)
               for key in ("fetch_ms", "render_ms", "load_ms")},
            "load_ms_max": round(max(r["load_ms"] for r in runs), 1), "rounds": rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", type=Path, default=None, help="keep/reuse the year warehouse at this path")
    args = parser.parse_args()
    os.environ["ENERGY_CLOCK_NOW"] = PINNED_NOW
    with EmbeddedBroker() as broker, StandinServer(StandinConfig(rate_limit_per_minute=0)) as standin, \
            tempfile.TemporaryDirectory() as folder:
        path = args.keep or Path(folder) / "year.duckdb"
        reused = path.exists()
        warehouse = Warehouse(path, lock_timeout_seconds=120)
        began = time.perf_counter()
        if not reused:
            print(f"building the year warehouse ({args.days} days of PowerSystemRightNow) ...", flush=True)
            landing = land_year(broker.bootstrap_servers, warehouse, standin.url, args.days)
            aggregate_year(warehouse, args.days)
            print(f"  built: {landing}", flush=True)
        built = None if reused else round(time.perf_counter() - began, 1)
        server = ApiServer(ServerConfig(port=free_port()), warehouse, None).__enter__()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
                page = browser.new_page(viewport={"width": 1400, "height": 1100})
                errors: list[str] = []
                page.on("pageerror", lambda error: errors.append(str(error)))
                measure(page, server.url, CASES["day_auto_minute"], 1)  # warm: file caches, JIT
                load_before = os.getloadavg()[0]
                cases = {}
                for name, params in CASES.items():
                    cases[name] = measure(page, server.url, params, args.rounds)
                    print(f"  {name}: {cases[name]}", flush=True)
                load_after = os.getloadavg()[0]
                browser.close()
                if errors:
                    raise RuntimeError(f"page errors: {errors}")
        finally:
            server.__exit__(None, None, None)
    year, baseline = cases["year_daily"], cases["baseline_year_hourly"]
    result = {"benchmark": "dashboard_render", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "days": args.days, "zone": ZONE, "warehouse": "year_pipeline's (stand-in -> Kafka -> DuckDB, aggregates)",
              "warehouse_build_seconds": built,
              "load_average_1min": [round(load_before, 1), round(load_after, 1)],
              "machine": f"{os.cpu_count()} cores, shared with other test runs", "cases": cases,
              "year_daily_target_ms": 1000,
              "year_daily_load_ms": year["load_ms_median"],
              "baseline_over_year_daily": round(baseline["load_ms_median"] / year["load_ms_median"], 1)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dashboard_render.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
