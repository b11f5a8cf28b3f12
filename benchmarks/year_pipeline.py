"""One year of PowerSystemRightNow (525,600 records) from the stand-in over HTTP, through Kafka
into DuckDB, then every aggregate; and rebuilding a year of daily partitions.

Stages, on the real parts (embedded broker, HTTP stand-in, landing consumer, DuckDB file), with
the stand-in and the landing consumer in their own processes as the platform runs them, and then
(the same-run baseline) as threads of the benchmark's one interpreter (``SHAPES``):

1. fetch + publish: the history path, one request per 31 days (12 requests), every record
   acknowledged by the broker, while the landing consumer runs concurrently (as in the demo);
2. landing: until the last message is in DuckDB;
3. aggregates: zone_hourly for 8,760 hours in one statement, then days, weeks, months;
4. rebuild a year of daily partitions through Dagster: one single-run backfill of zone_daily
   over 365 partitions (in-process, real instance), against a baseline of one run per
   partition measured on a sample in the same run (the ratio is the figure).

    .venv/bin/python -m benchmarks.year_pipeline [--days 365] [--baseline-days 7] [--no-in-process-baseline]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from benchmarks.machine import speed_reference
from benchmarks.processes import landed_messages, standin_process, start_consumers, stop_processes
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


SHAPES = ("processes", "one interpreter")
"""How the services run: ``processes`` as the platform runs them (stand-in, landing consumer and
the fetching code each in its own process); ``one interpreter``: stand-in and consumer as threads
of the benchmark's process, sharing one interpreter lock (how these benchmarks ran before, kept as
the same-run baseline)."""


class Landing:
    """The landing consumer of one benchmark run, as a thread or as an `energy consume` process."""

    def __init__(self, shape: str, bootstrap: str, warehouse: Warehouse, group: str, logs: Path) -> None:
        self.shape, self.warehouse = shape, warehouse
        if shape == "processes":
            self.processes = start_consumers(bootstrap, {"ENERGY_WAREHOUSE_PATH": str(warehouse.path),
                                                         "ENERGY_WAREHOUSE_URL": ""}, 1, group, logs)
            return
        self.consumer = LandingConsumer(bootstrap, warehouse, group, status_every_seconds=15)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.consumer.run, args=(self.stop,), daemon=True)
        self.thread.start()

    def wait_landed(self, total: int) -> None:
        """Until ``total`` messages have landed; fails instead of hanging if the consumer stopped."""
        while True:
            if self.shape == "processes":
                if landed_messages(self.warehouse) >= total:
                    return
                if self.processes[0].poll() is not None:
                    raise RuntimeError("the landing consumer process exited before every record landed")
                time.sleep(0.5)  # each look takes the file's shared lock: not too often
            else:
                if self.consumer.stats.messages >= total:
                    return
                if not self.thread.is_alive():
                    raise RuntimeError("the landing consumer stopped before every record landed")
                time.sleep(0.05)

    def close(self) -> float | None:
        """Stops the consumer; returns its CPU seconds when it ran as a process."""
        if self.shape == "processes":
            cpu = stop_processes(self.processes)[0]
            return round(cpu, 1) if cpu is not None else None
        self.stop.set()
        self.thread.join(60)
        return None


@contextmanager
def standin(shape: str, logs: Path) -> Iterator[str]:
    """The stand-in's base URL: its own process, or a thread of this one."""
    if shape == "processes":
        with standin_process(logs) as url:
            yield url
    else:
        with StandinServer(StandinConfig(rate_limit_per_minute=0)) as server:
            yield server.url


@contextmanager
def fresh_stack(shape: str, folder: Path) -> Iterator[tuple[str, str, Warehouse]]:
    """A new broker, the stand-in in ``shape`` and a new, migrated warehouse file (before any
    consumer opens it): (bootstrap servers, stand-in URL, warehouse)."""
    with EmbeddedBroker() as broker, standin(shape, folder) as url:
        warehouse = Warehouse(folder / f"year-{shape.replace(' ', '-')}.duckdb", lock_timeout_seconds=120)
        with warehouse.connect():
            pass
        yield broker.bootstrap_servers, url, warehouse


def land_year(bootstrap: str, warehouse: Warehouse, standin_url: str, days: int, shape: str = "one interpreter",
              logs: Path | None = None) -> dict:
    end = YEAR_START + timedelta(days=days)
    expected = days * 1440
    began = time.perf_counter()
    landing = Landing(shape, bootstrap, warehouse, "bench-year", logs or warehouse.path.parent)
    client = EnergiDataServiceClient(standin_url)
    published = 0
    windows = request_windows(DATASET, YEAR_START, end)
    try:
        for window in windows:
            outcome = fetch_and_publish(client, bootstrap, window)
            published += outcome.published
            print(f"  {window}: {outcome.published:,} acknowledged ({time.perf_counter() - began:.1f}s)", flush=True)
        published_at = time.perf_counter() - began
        landing.wait_landed(expected)
        landed_at = time.perf_counter() - began
    finally:
        consumer_cpu = landing.close()
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("SELECT count(*) FROM observations").fetchall()[0][0]
    return {"shape": shape, "records": published, "requests": len(windows), "observations": rows,
            "fetch_publish_seconds": round(published_at, 1), "landed_seconds": round(landed_at, 1),
            "records_per_s": round(published / landed_at), "consumer_process_cpu_seconds": consumer_cpu}


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


def run_shape(shape: str, days: int, folder: Path) -> tuple[dict, Warehouse]:
    """Stand-in -> Kafka -> DuckDB -> every aggregate with the services in ``shape``, on a new
    broker and warehouse."""
    with fresh_stack(shape, folder) as (bootstrap, url, warehouse):
        began = time.perf_counter()
        print(f"1-2. [{shape}] fetching, publishing and landing {days} days of {DATASET} ...", flush=True)
        landing = land_year(bootstrap, warehouse, url, days, shape, folder)
        print(f"  {landing}\n3. [{shape}] aggregates ...", flush=True)
        aggregates = aggregate_year(warehouse, days)
        total = time.perf_counter() - began
        print(f"  {aggregates}\n   [{shape}] total {total:.1f}s", flush=True)
    return {"landing": landing, "aggregates": aggregates, "standin_to_aggregates_seconds": round(total, 1)}, warehouse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--baseline-days", type=int, default=7)
    parser.add_argument("--no-in-process-baseline", action="store_true",
                        help="skip the same year with stand-in and consumer as threads of one interpreter")
    args = parser.parse_args()
    shapes = SHAPES[:1] if args.no_in_process_baseline else SHAPES
    runs = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        for shape in shapes:
            runs[shape], warehouse = run_shape(shape, args.days, folder)
            if shape == "processes":
                print(f"4. rebuilding {args.days} daily partitions via Dagster ...", flush=True)
                rebuild = rebuild_daily_through_dagster(warehouse, args.days, args.baseline_days)
                print(f"  {rebuild}")
                size_mb = round(warehouse.path.stat().st_size / 1e6, 1)
    headline = runs["processes"]
    result = {"benchmark": "year_pipeline", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": speed_reference(),
              "days": args.days, **headline, "target_seconds": 30, "shapes": runs,
              "one_interpreter_vs_processes": round(runs["one interpreter"]["standin_to_aggregates_seconds"]
                                                    / headline["standin_to_aggregates_seconds"], 2)
              if "one interpreter" in runs else None,
              "daily_rebuild": rebuild, "daily_rebuild_target_seconds": 15, "warehouse_mb": size_mb}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "year_pipeline.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
