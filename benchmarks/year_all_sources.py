"""A year of every live dataset from the stand-in over HTTP, through Kafka into DuckDB, then every
aggregate (issue 11 point 3; goal <= 90 s).

The five live datasets (PowerSystemRightNow, CO2Emis, ElectricityProdex5MinRealtime,
eco2mix-national-tr, eco2mix-regional-tr) and the éCO2mix consolidated companions that hold
what the real-time sets no longer do, over the 365 days before today's UTC midnight (the
stand-in's real-time sets hold only their last 60 days, as the provider's do). Requests of at
most 31 days per dataset, every record acknowledged by the broker, while the landing consumer
runs concurrently; then ``zone_hourly`` for every zone and the daily/weekly/monthly tables. The
stand-in and the consumer run in their own processes, as the platform runs them, and then (the
same-run baseline) as threads of this one interpreter (``year_pipeline.SHAPES``).

    .venv/bin/python -m benchmarks.year_all_sources [--days 365] [--no-in-process-baseline]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.machine import speed_reference
from benchmarks.year_pipeline import SHAPES, Landing, fresh_stack
from energy_orchestration.assets.history import HISTORY_COMPANIONS, request_windows
from energy_orchestration.ingest import fetch_and_publish
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.sources.odre import OdreClient
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.aggregates import build_zone_hourly, build_zone_periods

RESULTS = Path(__file__).with_name("results")
LIVE = ("PowerSystemRightNow", "CO2Emis", "ElectricityProdex5MinRealtime", "eco2mix-national-tr",
        "eco2mix-regional-tr")
DATASETS = LIVE + tuple(HISTORY_COMPANIONS[d] for d in LIVE if d in HISTORY_COMPANIONS)


def land_year(bootstrap: str, warehouse: Warehouse, standin_url: str, start: datetime, end: datetime,
              shape: str, logs: Path) -> dict:
    clients = {"energidataservice": EnergiDataServiceClient(standin_url), "odre": OdreClient(standin_url)}
    began = time.perf_counter()
    landing = Landing(shape, bootstrap, warehouse, "bench-year-all", logs)
    published: dict[str, int] = {}
    requests = 0
    try:
        for dataset in DATASETS:
            client = clients["odre" if dataset.startswith("eco2mix") else "energidataservice"]
            for window in request_windows(dataset, start, end):
                published[dataset] = published.get(dataset, 0) + fetch_and_publish(client, bootstrap, window).published
                requests += 1
            print(f"  {dataset}: {published[dataset]:,} acknowledged ({time.perf_counter() - began:.1f}s)", flush=True)
        published_at = time.perf_counter() - began
        total = sum(published.values())
        landing.wait_landed(total)
        landed_at = time.perf_counter() - began
    finally:
        consumer_cpu = landing.close()
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("SELECT count(*) FROM observations").fetchall()[0][0]
        quarantined = {f"{dataset}/{rule}": n for dataset, rule, n in db.execute(
            "SELECT dataset, rule, count(*) FROM quarantine GROUP BY ALL ORDER BY ALL").fetchall()}
    return {"shape": shape, "records": total, "per_dataset": published, "requests": requests, "observations": rows,
            "quarantined": quarantined, "fetch_publish_seconds": round(published_at, 1),
            "landed_seconds": round(landed_at, 1), "records_per_s": round(total / landed_at),
            "consumer_process_cpu_seconds": consumer_cpu}


def aggregate_year(warehouse: Warehouse, start: datetime, end: datetime) -> dict:
    naive_start, naive_end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    first, last = naive_start.date(), (naive_end - timedelta(minutes=1)).date()
    timings: dict = {}
    with warehouse.transaction() as db:
        began = time.perf_counter()
        timings["zone_hourly_rows"] = build_zone_hourly(db, naive_start, naive_end).rows
        timings["zone_hourly_seconds"] = round(time.perf_counter() - began, 2)
        for grain in ("daily", "weekly", "monthly"):
            began = time.perf_counter()
            timings[f"zone_{grain}_rows"] = build_zone_periods(db, grain, first, last).rows
            timings[f"zone_{grain}_seconds"] = round(time.perf_counter() - began, 2)
    return timings


def run_shape(shape: str, start: datetime, end: datetime, folder: Path) -> dict:
    """Every live dataset's year through every stage with the services in ``shape``
    (year_pipeline.SHAPES), on a new broker and warehouse."""
    with fresh_stack(shape, folder) as (bootstrap, url, warehouse):
        began = time.perf_counter()
        print(f"1-2. [{shape}] fetching, publishing and landing {len(DATASETS)} datasets ...", flush=True)
        landing = land_year(bootstrap, warehouse, url, start, end, shape, folder)
        print(f"  {landing}\n3. [{shape}] aggregates ...", flush=True)
        aggregates = aggregate_year(warehouse, start, end)
        total = time.perf_counter() - began
        print(f"  {aggregates}\n   [{shape}] total {total:.1f}s", flush=True)
        size_mb = round(warehouse.path.stat().st_size / 1e6, 1)
    return {"landing": landing, "aggregates": aggregates, "standin_to_aggregates_seconds": round(total, 1),
            "warehouse_mb": size_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--no-in-process-baseline", action="store_true",
                        help="skip the same year with stand-in and consumer as threads of one interpreter")
    args = parser.parse_args()
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    start, end = today - timedelta(days=args.days), today
    shapes = SHAPES[:1] if args.no_in_process_baseline else SHAPES
    with tempfile.TemporaryDirectory() as name:
        runs = {shape: run_shape(shape, start, end, Path(name)) for shape in shapes}
    headline = runs["processes"]
    result = {"benchmark": "year_all_sources", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": speed_reference(),
              "days": args.days, "window_utc": [start.isoformat(), end.isoformat()], **headline,
              "target_seconds": 90, "shapes": runs,
              "one_interpreter_vs_processes": round(runs["one interpreter"]["standin_to_aggregates_seconds"]
                                                    / headline["standin_to_aggregates_seconds"], 2)
              if "one interpreter" in runs else None}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "year_all_sources.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
