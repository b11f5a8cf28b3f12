"""What keeping every revision costs in storage, with the stand-in's revision rates.

Replays one day of the five live datasets the way the platform sees them: the live fetch lands
each 15-minute window just after it is published (clock pinned to the window's end), then the
hourly revisit re-reads it ``--revisit-hours`` later, when Energi Data Service has corrected
``--correction-rate`` of its rows and éCO2mix has consolidated its real-time values (after
``--consolidation-hours``; every value once, status and value, as the real service does within
a month). Everything goes through the real stand-in over HTTP, the providers' normalisers and
the real landing upsert (``warehouse.landing.land``), into a real DuckDB file.

Storage is then measured by copying ``observations`` and ``observation_revisions`` each into a
fresh DuckDB file (``--copies`` days of it, shifted by whole days, checkpointed, minus an empty
one): bytes per table and day, so MB/day with and without revisions kept, and per year (x 365).
Writes ``results/revision_storage.json``.

    .venv/bin/python -m benchmarks.revision_storage [--day 2026-03-10] [--correction-rate 0.02]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pandas as pd

from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.sources.odre import OdreClient
from energy_orchestration.standin import OdreStandinConfig, StandinConfig, StandinServer
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.landing import LandingBatch, land

RESULTS = Path(__file__).with_name("results")
LIVE = ("PowerSystemRightNow", "ElectricityProdex5MinRealtime", "CO2Emis", "eco2mix-regional-tr",
        "eco2mix-national-tr")
STEP = timedelta(minutes=15)
MB = 1_000_000


def landing_frame(dataset: str, records: list, now: datetime) -> pd.DataFrame:
    """A fetched window as the consumer would land it (Kafka coordinates left empty)."""
    observations = DATASETS[dataset].normalise(records, now).observations
    frame = observations.drop(columns=["record_index"], errors="ignore").copy()
    frame["fetched_at_utc"] = pd.Timestamp(now.replace(tzinfo=None))
    frame["kafka_partition"] = pd.array([None] * len(frame), dtype="Int32")
    frame["kafka_offset"] = pd.array([None] * len(frame), dtype="Int64")
    return frame.drop_duplicates(["dataset", "zone", "quantity", "interval_start_utc"], keep="last")


def replay_day(warehouse: Warehouse, day: datetime, correction_rate: float, consolidation_hours: float,
               revisit_hours: float) -> dict[str, float]:
    """Land the day window by window as first published (no correction yet: the live fetch sees a
    row the minute it appears), then again ``revisit_hours`` later, as the revisit does."""
    clock = {"now": day}
    timings = {"live_seconds": 0.0, "revisit_seconds": 0.0}
    for phase, delay, rate in (("live", timedelta(0), 0.0), ("revisit", timedelta(hours=revisit_hours),
                                                             correction_rate)):
        config = StandinConfig(rate_limit_per_minute=0, correction_rate=rate, now=lambda: clock["now"],
                               odre=OdreStandinConfig(consolidation_hours=consolidation_hours,
                                                      publication_lag_minutes=0))
        began = time.perf_counter()
        with StandinServer(config) as standin:
            clients = {"energidataservice": EnergiDataServiceClient(standin.url), "odre": OdreClient(standin.url)}
            start = day
            while start < day + timedelta(days=1):
                clock["now"] = start + STEP + delay
                frames = []
                for dataset in LIVE:
                    records = clients[DATASETS[dataset].provider].fetch_window(dataset, start, start + STEP)
                    frames.append(landing_frame(dataset, records, clock["now"]))
                with warehouse.transaction() as db:
                    land(db, LandingBatch(pd.concat(frames, ignore_index=True), pd.DataFrame()),
                         clock["now"].replace(tzinfo=None))
                start += STEP
        timings[f"{phase}_seconds"] = round(time.perf_counter() - began, 1)
    return timings


def table_bytes(source: Path, table: str, scratch: Path, days: int) -> int:
    """Bytes ``days`` copies of the replayed day of ``table`` take in a fresh DuckDB file (each
    copy shifted by whole days, in time order, checkpointed), minus the same file with the empty
    table: DuckDB allocates 256 KB blocks, so one day alone would be measured to a block."""
    sizes = []
    for copies in (0, days):
        target = scratch / f"{table}-{copies}.duckdb"
        with duckdb.connect(str(target)) as db:
            db.execute(f"ATTACH '{source}' AS src (READ_ONLY)")
            db.execute(f"""CREATE TABLE {table} AS
                SELECT t.* REPLACE (t.interval_start_utc + to_days(k::INTEGER) AS interval_start_utc)
                FROM src.{table} t, range({copies}) AS r(k) ORDER BY k, t.interval_start_utc""")
            db.execute("DETACH src")
            db.execute("CHECKPOINT")
        sizes.append(target.stat().st_size)
    return sizes[1] - sizes[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--day", default="2026-03-10", help="UTC day replayed")
    parser.add_argument("--correction-rate", type=float, default=0.02)
    parser.add_argument("--consolidation-hours", type=float, default=3.0)
    parser.add_argument("--revisit-hours", type=float, default=6.0)
    parser.add_argument("--copies", type=int, default=30, help="copies of the day measured together (block size)")
    args = parser.parse_args()
    day = datetime.fromisoformat(args.day).replace(tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        warehouse = Warehouse(scratch / "warehouse.duckdb", lock_timeout_seconds=60)
        timings = replay_day(warehouse, day, args.correction_rate, args.consolidation_hours, args.revisit_hours)
        with warehouse.connect(read_only=True) as db:
            rows = dict(db.execute("""SELECT 'observations', count(*) FROM observations
                                      UNION ALL SELECT 'revisions', count(*) FROM observation_revisions""").fetchall())
            per_dataset = {d: {"current": int(c), "revisions": int(r)} for d, c, r in db.execute("""
                SELECT dataset, count(*) FILTER (WHERE is_current), count(*) FILTER (WHERE NOT is_current)
                FROM observation_history GROUP BY dataset ORDER BY dataset""").fetchall()}
        current = table_bytes(warehouse.path, "observations", scratch, args.copies) / args.copies
        revisions = table_bytes(warehouse.path, "observation_revisions", scratch, args.copies) / args.copies
    result = {
        "day": args.day, "correction_rate": args.correction_rate, "consolidation_hours": args.consolidation_hours,
        "revisit_hours": args.revisit_hours, "datasets": list(LIVE), **timings,
        "rows": {"observations": int(rows["observations"]), "observation_revisions": int(rows["revisions"])},
        "rows_per_dataset": per_dataset,
        "measured_copies_of_the_day": args.copies,
        "bytes_per_day": {"observations": round(current), "observation_revisions": round(revisions)},
        "bytes_per_row": {"observations": round(current / rows["observations"], 1),
                          "observation_revisions": round(revisions / max(rows["revisions"], 1), 1)},
        "mb_per_day": {"without_revisions": round(current / MB, 3), "revisions_only": round(revisions / MB, 3),
                       "with_revisions": round((current + revisions) / MB, 3)},
    }
    result["mb_per_year"] = {k: round(v * 365, 1) for k, v in result["mb_per_day"].items()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "revision_storage.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
