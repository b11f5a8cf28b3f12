"""One year of PowerSystemRightNow (525,600 records) from the stand-in over HTTP, through Kafka
into DuckDB, then every aggregate; and rebuilding a year of daily partitions.

Stages, on the real parts (embedded broker, HTTP stand-in, landing consumer, DuckDB file):

1. fetch + publish: the history path, one request per 31 days (12 requests), every record
   acknowledged by the broker, while the landing consumer runs concurrently (as in the demo);
2. landing: until the last message is in DuckDB;
3. aggregates: zone_hourly for 8,760 hours in one statement, then days, weeks, months;
4. rebuild a year of daily partitions through Dagster: one single-run backfill of zone_daily
   over 365 partitions (in-process, real instance), against a baseline of one run per
   partition measured on a sample in the same run (the ratio is the figure).

    .venv/bin/python -m benchmarks.year_pipeline [--days 365] [--baseline-days 7]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from energy_orchestration.assets.aggregates import zone_daily
from energy_orchestration.assets.history import request_windows
from energy_orchestration.ingest import fetch_and_publish
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.standin import StandinConfig, StandinServer
from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.consumer import LandingConsumer
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.aggregates import build_zone_hourly, build_zone_periods

RESULTS = Path(__file__).with_name("results")
DATASET = "PowerSystemRightNow"
YEAR_START = datetime(2025, 1, 1, tzinfo=timezone.utc)


def wait_landed(consumer: LandingConsumer, landing: threading.Thread, total: int) -> None:
    """Until the consumer has landed ``total`` messages; fails instead of hanging if it stopped."""
    while consumer.stats.messages < total:
        if not landing.is_alive():
            raise RuntimeError("the landing consumer stopped before every record landed")
        time.sleep(0.05)


def land_year(bootstrap: str, warehouse: Warehouse, standin_url: str, days: int) -> dict:
    end = YEAR_START + timedelta(days=days)
    expected = days * 1440
    consumer = LandingConsumer(bootstrap, warehouse, "bench-year", status_every_seconds=15)
    stop = threading.Event()
    landing = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    began = time.perf_counter()
    landing.start()
    client = EnergiDataServiceClient(standin_url)
    published = 0
    windows = request_windows(DATASET, YEAR_START, end)
    for window in windows:
        outcome = fetch_and_publish(client, bootstrap, window)
        published += outcome.published
        print(f"  {window}: {outcome.published:,} acknowledged ({time.perf_counter() - began:.1f}s)", flush=True)
    published_at = time.perf_counter() - began
    wait_landed(consumer, landing, expected)
    landed_at = time.perf_counter() - began
    stop.set()
    landing.join(60)
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("SELECT count(*) FROM observations").fetchall()[0][0]
    return {"records": published, "requests": len(windows), "observations": rows,
            "fetch_publish_seconds": round(published_at, 1), "landed_seconds": round(landed_at, 1),
            "records_per_s": round(published / landed_at)}


def aggregate_year(warehouse: Warehouse, days: int) -> dict:
    first, last = date(2025, 1, 1), date(2025, 1, 1) + timedelta(days=days - 1)
    timings = {}
    with warehouse.transaction() as db:
        began = time.perf_counter()
        hourly = build_zone_hourly(db, YEAR_START.replace(tzinfo=None),
                                   (YEAR_START + timedelta(days=days)).replace(tzinfo=None))
        timings["zone_hourly_seconds"] = round(time.perf_counter() - began, 2)
        for grain in ("daily", "weekly", "monthly"):
            began = time.perf_counter()
            stats = build_zone_periods(db, grain, first, last)
            timings[f"zone_{grain}_seconds"] = round(time.perf_counter() - began, 2)
            timings[f"zone_{grain}_rows"] = stats.rows
    timings["zone_hourly_rows"] = hourly.rows
    return timings


def rebuild_daily_through_dagster(warehouse: Warehouse, days: int, baseline_days: int,
                                  resource: WarehouseResource | None = None) -> dict:
    res = {"warehouse": resource or WarehouseResource(path=str(warehouse.path))}
    first, last = date(2025, 1, 1), date(2025, 1, 1) + timedelta(days=days - 1)
    with tempfile.TemporaryDirectory() as home, dg.instance_for_test(temp_dir=home) as instance:
        began = time.perf_counter()
        assert dg.materialize([zone_daily], instance=instance, resources=res, tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat()}).success
        single_run = time.perf_counter() - began
        began = time.perf_counter()
        for n in range(baseline_days):
            assert dg.materialize([zone_daily], instance=instance, resources=res,
                                  partition_key=(first + timedelta(days=n)).isoformat()).success
        per_partition = (time.perf_counter() - began) / baseline_days
    return {"partitions": days, "single_run_seconds": round(single_run, 2),
            "baseline_seconds_per_partition_run": round(per_partition, 3),
            "baseline_extrapolated_seconds": round(per_partition * days, 1),
            "speedup": round(per_partition * days / single_run, 1),
            "note": "baseline = one in-process run per partition (a daemon-launched run adds ~3-4 s each)"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--baseline-days", type=int, default=7)
    args = parser.parse_args()
    with EmbeddedBroker() as broker, StandinServer(StandinConfig(rate_limit_per_minute=0)) as standin, \
            tempfile.TemporaryDirectory() as folder:
        warehouse = Warehouse(Path(folder) / "year.duckdb", lock_timeout_seconds=120)
        began = time.perf_counter()
        print(f"1-2. fetching, publishing and landing {args.days} days of {DATASET} ...", flush=True)
        landing = land_year(broker.bootstrap_servers, warehouse, standin.url, args.days)
        print(f"  {landing}\n3. aggregates ...", flush=True)
        aggregates = aggregate_year(warehouse, args.days)
        total = time.perf_counter() - began
        print(f"  {aggregates}\n   total {total:.1f}s\n4. rebuilding {args.days} daily partitions via Dagster ...",
              flush=True)
        rebuild = rebuild_daily_through_dagster(warehouse, args.days, args.baseline_days)
        print(f"  {rebuild}")
        size_mb = round(warehouse.path.stat().st_size / 1e6, 1)
    result = {"benchmark": "year_pipeline", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "days": args.days, "landing": landing, "aggregates": aggregates,
              "standin_to_aggregates_seconds": round(total, 1), "target_seconds": 180,
              "daily_rebuild": rebuild, "daily_rebuild_target_seconds": 15, "warehouse_mb": size_mb}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "year_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
