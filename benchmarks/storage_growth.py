"""How fast the demo stack's storage grows per day, and what the run cleanup gives back.

Runs the real demo stack (`energy demo`, stand-in source, all five datasets), measures the
Dagster home (run storage, per-run event shards, event index, schedule/tick storage, compute
logs) and the DuckDB warehouse after a warm-up and again after ``--seconds``, and extrapolates
to a day. Then, with the stack stopped, runs the cleanup function on the instance as the daily
job would once every run of the window is past the retention age, and measures again.

    .venv/bin/python -m benchmarks.storage_growth [--warmup 60] [--seconds 600]
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg

from benchmarks.demo_stack import running_demo
from energy_orchestration.maintenance.cleanup import delete_old_runs
from energy_orchestration.warehouse import Warehouse

RESULTS = Path(__file__).with_name("results")
DAY = 86_400


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def measure(state: Path) -> dict[str, int]:
    """Bytes per storage part (files incl. SQLite WAL, and live pages), plus counts."""
    home = state / "dagster"
    history = home / "history"
    shards = [f for f in (history / "runs").glob("*.db") if f.name != "index.db"]
    sizes = {
        "run_storage": _sqlite_files(history / "runs.db"),
        "event_shards": sum(_sqlite_files(f) for f in shards),
        "event_index": _sqlite_files(history / "runs" / "index.db"),
        "schedule_storage": tree_bytes(home / "schedules"),
        "compute_logs": tree_bytes(home / "storage"),
        # pages holding data (page_count - freelist_count): what a checkpoint + VACUUM would leave
        "run_storage_live": _sqlite_live(history / "runs.db"),
        "event_shards_live": sum(_sqlite_live(f) for f in shards),
        "event_index_live": _sqlite_live(history / "runs" / "index.db"),
        "schedule_storage_live": _sqlite_live(home / "schedules" / "schedules.db"),
    }
    sizes["dagster_total"] = tree_bytes(home)
    sizes["warehouse"] = sum(_size(f) for f in state.glob("warehouse.duckdb*"))
    sizes["warehouse_live"], sizes["observations"] = _warehouse_live(state / "warehouse.duckdb")
    sizes["runs"] = _count(history / "runs.db", "SELECT count(*) FROM runs")
    sizes["event_shard_files"] = len(shards)
    sizes["ticks"] = _count(home / "schedules" / "schedules.db", "SELECT count(*) FROM job_ticks")
    return sizes


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _sqlite_files(db: Path) -> int:
    return sum(_size(db.with_name(db.name + suffix)) for suffix in ("", "-wal", "-shm", "-journal"))


def _sqlite_live(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        pages, free, size = (connection.execute(f"PRAGMA {p}").fetchone()[0]
                             for p in ("page_count", "freelist_count", "page_size"))
    return (pages - free) * size


def _warehouse_live(path: Path) -> tuple[int, int]:
    """Used DuckDB blocks in bytes, and the observation rows (through the warehouse's lock)."""
    if not path.exists():
        return 0, 0
    with Warehouse(path).connect(read_only=True) as connection:
        used, block = connection.execute("SELECT used_blocks, block_size FROM pragma_database_size()").fetchone()
        rows = connection.execute("SELECT count(*) FROM observations").fetchone()[0]
    return used * block, rows


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        return connection.execute(sql).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warmup", type=float, default=60)
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="storage-growth-"))
    with running_demo(folder):
        time.sleep(args.warmup)
        start = measure(folder)
        began = time.monotonic()
        print(f"start: {json.dumps(start)}\nmeasuring for {args.seconds:.0f}s ...", flush=True)
        time.sleep(args.seconds)
        end = measure(folder)
        elapsed = time.monotonic() - began
    stopped = measure(folder)  # after a clean stop (final runs finished)
    per_day = {k: round((end[k] - start[k]) * DAY / elapsed) for k in end}

    # The daily job, once everything measured is past the retention age (stack stopped).
    instance = dg.DagsterInstance.from_config(str(folder / "dagster"))
    try:
        cleaned_at = time.monotonic()
        stats = delete_old_runs(instance, timedelta(days=7), datetime.now(timezone.utc) + timedelta(days=7, minutes=1))
        cleanup_seconds = time.monotonic() - cleaned_at
    finally:
        instance.dispose()
    after = measure(folder)
    for db in (folder / "dagster" / "history" / "runs.db", folder / "dagster" / "history" / "runs" / "index.db"):
        with sqlite3.connect(db) as connection:
            connection.execute("VACUUM")
    vacuumed = measure(folder)
    freed = (stopped["event_shards_live"] + stopped["compute_logs"] + stopped["run_storage_live"]
             + stopped["event_index_live"]) - (after["event_shards_live"] + after["compute_logs"]
                                              + after["run_storage_live"] + after["event_index_live"])
    result = {
        "benchmark": "storage_growth", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(elapsed), "start": start, "end": end, "per_day": per_day,
        "after_stop": stopped,
        "cleanup": {"summary": stats.summary(), "seconds": round(cleanup_seconds, 1),
                    "runs_deleted": stats.runs_deleted, "events_deleted": stats.events_deleted},
        "after_cleanup": after, "after_cleanup_and_vacuum": vacuumed,
        "bytes_freed_per_deleted_run": round(freed / stats.runs_deleted) if stats.runs_deleted else None,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "storage_growth.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
