"""The two warehouse backends side by side, in one run on the same machine and the same data:
the single DuckDB file and DuckLake (a throwaway PostgreSQL catalog + Parquet in a temp folder).

1. landing throughput: N pre-produced PowerSystemRightNow records (keyed by minute, so they
   spread over every partition) landed by `energy consume` *processes*: one on the file, one on
   DuckLake, two in one group on DuckLake (standing in for two machines). Clock from process
   start (incl. the group join) until every record is in ``raw_records`` (distinct keys, so a
   batch landed twice across a rebalance counts once); each consumer's lost conflicts are
   counted from its log.
2. the day query (the API's ``/zones/DK-DK1/days/{day}``, ``serving.queries.day_readings``) on
   the warehouses of stage 1, sequentially, median and p95.
3. the year benchmark (benchmarks/year_pipeline.py) with ``--days`` days on each backend:
   stand-in -> broker -> warehouse, the aggregates, and the daily partitions rebuilt through
   Dagster in one run.
4. storage per landed day: the file vs DuckLake's catalog (PostgreSQL database size) + Parquet,
   as landed and after two passes of the maintenance job (retention 0; the second pass deletes
   the files the first one merged away), each over the empty, migrated warehouse.

    .venv/bin/python -m benchmarks.lake_vs_file [--records 100000] [--days 14] [--day-repeats 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from benchmarks.processes import landed_messages, start_consumers, stop_processes
from benchmarks.year_pipeline import aggregate_year, land_year, rebuild_daily_through_dagster
from energy_orchestration.maintenance.lake import maintain_lake
from energy_orchestration.profiles.postgres import LocalPostgres
from energy_orchestration.serving.queries import day_readings
from energy_orchestration.standin import StandinConfig, StandinServer
from energy_orchestration.standin.synthetic_dk import power_system_right_now_records
from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic
from energy_orchestration.warehouse import Warehouse, configured_warehouse

RESULTS = Path(__file__).with_name("results")
DATASET = "PowerSystemRightNow"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def lake_settings(server: LocalPostgres, folder: Path, name: str) -> dict[str, str]:
    """Environment of a new, empty DuckLake catalog (own database, own data folder)."""
    database = f"{name}_{uuid.uuid4().hex[:8]}"
    server.create_database(database)
    return {"ENERGY_WAREHOUSE_URL": f"ducklake:postgres:host=127.0.0.1 port={server.port} dbname={database} "
                                    f"user={server.user}",
            "ENERGY_WAREHOUSE_CATALOG_PASSWORD": server.password,
            "ENERGY_WAREHOUSE_DATA_PATH": str(folder / f"{name}-data") + "/",
            "ENERGY_WAREHOUSE_PATH": str(folder / f"{name}.duckdb")}


def file_settings(folder: Path, name: str) -> dict[str, str]:
    return {"ENERGY_WAREHOUSE_URL": "", "ENERGY_WAREHOUSE_PATH": str(folder / f"{name}.duckdb")}


def open_warehouse(settings_env: dict[str, str]) -> Warehouse:
    """The warehouse those settings configure, created and migrated (the factory reads os.environ)."""
    os.environ.update(settings_env)
    warehouse = configured_warehouse(Path(settings_env["ENERGY_WAREHOUSE_PATH"]), lock_timeout_seconds=120)
    with warehouse.connect():
        pass
    return warehouse


def landed_records(warehouse: Warehouse) -> int:
    """Distinct records landed: ``raw_records`` holds one row per key (an upsert), so a batch landed
    twice (a rebalance hands a partition over before its offsets were committed) counts once,
    where the ingest log's message sum would count it twice and flatter the throughput."""
    with warehouse.connect(read_only=True) as db:
        return int(db.execute("SELECT count(*) FROM raw_records").fetchall()[0][0])


def land_with_processes(bootstrap: str, settings_env: dict[str, str], consumers: int, records: int,
                        logs: Path) -> dict:
    """``consumers`` `energy consume` processes in a new group over the pre-produced topic."""
    warehouse = open_warehouse(settings_env)
    group = f"bench-{uuid.uuid4().hex[:8]}"
    began = time.perf_counter()
    processes = start_consumers(bootstrap, settings_env, consumers, group, logs)
    log_files = [logs / f"consume-{group}-{n}.log" for n in range(consumers)]
    first, at_first = None, 0
    try:
        while (done := landed_records(warehouse)) < records:
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"a consumer exited early (logs in {logs})")
            if done and first is None:
                first, at_first = time.perf_counter() - began, done
            time.sleep(1.0)  # each poll of the file takes its shared lock: rarely, not to slow the writer
        elapsed = time.perf_counter() - began
    finally:
        cpu = stop_processes(processes)
    texts = [f.read_text(errors="replace") for f in log_files]
    return {"consumers": consumers, "records": done, "messages_landed": landed_messages(warehouse),
            "seconds": round(elapsed, 1), "first_records_landed_after_s": first and round(first, 1),
            # the rate once landing runs: from the first poll that saw landed records to the end,
            # without the start-up (imports, opening the warehouse, the group join) in the figure
            "records_per_s_after_first": round((done - at_first) / (elapsed - first)) if first else None,
            # CPU the consumers used (user + system, start to exit) against the 2 cores' wall time:
            # near 2 x seconds means landing was CPU-bound on this machine
            "consumer_cpu_seconds": [round(c, 1) if c is not None else None for c in cpu],
            "records_per_s": round(done / elapsed),
            # each DuckLake transaction conflict a consumer lost (and redid its batch for), from its log
            "conflict_retries": [t.count("landing a batch lost a transaction conflict") for t in texts],
            "landed_per_consumer": [_landed(t) for t in texts]}


def _landed(log_text: str) -> dict[str, int]:
    """Messages and batches a consumer's last status line says it landed (logged when it stops)."""
    found = re.findall(r"landed (\d+) messages in (\d+) batches", log_text)
    return {"messages": int(found[-1][0]), "batches": int(found[-1][1])} if found else {}


def day_query(warehouse: Warehouse, day: date, repeats: int) -> dict:
    rows = len(day_readings(warehouse, "DK-DK1", day))  # warm-up (DuckLake: opens the reader once)
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        day_readings(warehouse, "DK-DK1", day)
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    return {"rows": rows, "median_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 1)}


def storage(warehouse: Warehouse) -> dict:
    """Bytes on disk: the DuckDB file, or DuckLake's Parquet folder + its PostgreSQL database."""
    from energy_orchestration.warehouse.lake import DuckLakeWarehouse

    if not isinstance(warehouse, DuckLakeWarehouse):
        return {"total_bytes": sum(f.stat().st_size for f in warehouse.path.parent.glob(warehouse.path.name + "*")
                                   if f.suffix != ".lock" and not f.name.endswith((".lock", ".gate")))}
    folder = Path(warehouse.data_path)
    parquet = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    files = sum(1 for f in folder.rglob("*") if f.is_file())
    with warehouse.connect() as db:
        catalog = db.execute("SELECT * FROM postgres_query('__ducklake_metadata_lake', "
                             "'SELECT pg_database_size(current_database())')").fetchall()[0][0]
    return {"parquet_bytes": parquet, "parquet_files": files, "catalog_bytes": int(catalog),
            "total_bytes": parquet + int(catalog)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--baseline-days", type=int, default=2)
    parser.add_argument("--day-repeats", type=int, default=30)
    args = parser.parse_args()
    os.environ.setdefault("ENERGY_TOPIC_PREFIX", f"lvf{uuid.uuid4().hex[:6]}")
    result: dict = {"benchmark": "lake_vs_file", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "records": args.records, "days": args.days,
                    "machine": "2 cores, 24 GiB, shared with other helpers' test runs while measuring"}
    with EmbeddedBroker() as broker, LocalPostgres(database="bench", user="bench") as server, \
            StandinServer(StandinConfig(rate_limit_per_minute=0)) as standin, \
            tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bootstrap = broker.bootstrap_servers
        ensure_topics(bootstrap, all_topics([DATASET]))
        print(f"1. producing {args.records:,} records, then landing them with consumer processes ...", flush=True)
        publish_records(bootstrap, raw_topic(DATASET), "energidataservice", DATASET,
                        power_system_right_now_records(START, START + timedelta(minutes=args.records)),
                        lambda r: r["Minutes1UTC"], datetime.now(timezone.utc))
        stages = {"file_1": file_settings(folder, "landing-file"),
                  "ducklake_1": lake_settings(server, folder, "landing_lake1"),
                  "ducklake_2": lake_settings(server, folder, "landing_lake2")}
        landing = {}
        for name, settings_env in stages.items():
            landing[name] = land_with_processes(bootstrap, settings_env, 2 if name == "ducklake_2" else 1,
                                                args.records, folder)
            print(f"  {name}: {landing[name]}", flush=True)
        for ratio, over, under in (("ducklake_1_vs_file", "ducklake_1", "file_1"),
                                   ("ducklake_2_vs_ducklake_1", "ducklake_2", "ducklake_1"),
                                   ("ducklake_2_vs_file", "ducklake_2", "file_1")):
            landing[ratio] = round(landing[over]["records_per_s"] / landing[under]["records_per_s"], 2)
        result["landing"] = landing

        print("2. the day query ...", flush=True)
        day = (START + timedelta(days=1)).date()
        queries = {name: day_query(open_warehouse(stages[name]), day, args.day_repeats)
                   for name in ("file_1", "ducklake_1")}
        queries["ducklake_vs_file_median"] = round(queries["ducklake_1"]["median_ms"]
                                                   / queries["file_1"]["median_ms"], 2)
        result["day_query"] = {"day": day.isoformat(), **queries}
        print(f"  {result['day_query']}", flush=True)

        year: dict = {}
        for name, settings_env in (("file", file_settings(folder, "year-file")),
                                   ("ducklake", lake_settings(server, folder, "year_lake"))):
            print(f"3. year benchmark, {args.days} days, on {name} ...", flush=True)
            os.environ["ENERGY_TOPIC_PREFIX"] = f"year{name}{uuid.uuid4().hex[:6]}"  # its own topics: only its records
            warehouse = open_warehouse(settings_env)
            empty = storage(warehouse)  # migrated, nothing landed: subtracted below (an empty database's size)
            began = time.perf_counter()
            landed = land_year(bootstrap, warehouse, standin.url, args.days)
            aggregates = aggregate_year(warehouse, args.days)
            total = time.perf_counter() - began
            rebuild = rebuild_daily_through_dagster(warehouse, args.days, args.baseline_days) if name == "file" \
                else _rebuild_lake(warehouse, args.days, args.baseline_days, settings_env)
            as_landed = storage(warehouse)
            year[name] = {"landing": landed, "aggregates": aggregates,
                          "standin_to_aggregates_seconds": round(total, 1), "daily_rebuild": rebuild,
                          "storage_empty": empty, "storage_as_landed": as_landed}
            if name == "ducklake":  # twice, as the hourly job: the second deletes what the first merged away
                year[name]["maintenance"] = [maintain_lake(warehouse, timedelta(0)).summary() for _ in range(2)]
                year[name]["storage_after_maintenance"] = storage(warehouse)
            print(f"  {year[name]}", flush=True)
        year["ratios"] = {
            "landing_records_per_s": round(year["ducklake"]["landing"]["records_per_s"]
                                           / year["file"]["landing"]["records_per_s"], 2),
            "standin_to_aggregates_seconds": round(year["ducklake"]["standin_to_aggregates_seconds"]
                                                   / year["file"]["standin_to_aggregates_seconds"], 2),
            "daily_rebuild_single_run_seconds": round(year["ducklake"]["daily_rebuild"]["single_run_seconds"]
                                                      / year["file"]["daily_rebuild"]["single_run_seconds"], 2)}
        def per_day(backend: str, stage: str) -> float:
            return (year[backend][stage]["total_bytes"] - year[backend]["storage_empty"]["total_bytes"]) / args.days

        file_day = per_day("file", "storage_as_landed")
        lake_day = per_day("ducklake", "storage_after_maintenance")
        lake_day_raw = per_day("ducklake", "storage_as_landed")
        result["storage_per_landed_day"] = {
            "dataset": DATASET, "file_mb": round(file_day / 1e6, 2),
            "ducklake_as_landed_mb": round(lake_day_raw / 1e6, 2),
            "ducklake_after_maintenance_mb": round(lake_day / 1e6, 2),
            "ducklake_vs_file": round(lake_day / file_day, 2),
            "demo_file_mb_per_day": 75,
            "demo_ducklake_mb_per_day_estimate": round(75 * lake_day / file_day, 1),
            "note": "growth over the empty, migrated warehouse per day of PowerSystemRightNow landed in "
                    "20,000-message batches; the demo estimate scales the measured ~75 MB/day of the file "
                    "(benchmarks/storage_growth.py, five live datasets) by this ratio"}
        result["year"] = year
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lake_vs_file.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))


def _rebuild_lake(warehouse: Warehouse, days: int, baseline_days: int, settings_env: dict[str, str]) -> dict:
    """year_pipeline's Dagster rebuild with the resource pointing at the DuckLake catalog (its data
    path and password come from the environment, set by :func:`open_warehouse`)."""
    from energy_orchestration.resources import WarehouseResource

    return rebuild_daily_through_dagster(warehouse, days, baseline_days, WarehouseResource(
        path=str(warehouse.path), url=settings_env["ENERGY_WAREHOUSE_URL"]))


if __name__ == "__main__":
    main()
