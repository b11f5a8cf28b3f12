"""The landing writer's storage form: long canonical rows vs. wide provider rows, same batches.

The writer (the ``observations`` insert + commit + checkpoint) bounds landing throughput
(``benchmarks.consumer_throughput``). This measures, on the same prepared PowerSystemRightNow
batches of 20,000 records, what appending them costs in DuckDB in three forms:

- ``long``: today's ``observations`` (VARCHAR dataset/zone/quantity/unit/status), ~460,000 rows;
- ``long_enum``: the same table with ENUM-typed categorical columns;
- ``wide``: one row per provider record, one DOUBLE column per provider column (20,000 rows),
  plus what a long view over it costs to scan (UNPIVOT).

Each batch: connect, BEGIN, insert, COMMIT, close (the close checkpoints), as the consumer does.

    .venv/bin/python -m benchmarks.storage_form [--batches 5]
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from energy_orchestration.model import QUANTITIES, ZONES, DataStatus, Unit
from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.standin.synthetic_dk import power_system_right_now_records
from energy_orchestration.streaming.consumer import prepare_batch
from energy_orchestration.streaming.envelope import encode
from energy_orchestration.streaming.topics import raw_topic
from energy_orchestration.warehouse.schema import MIGRATIONS

RESULTS = Path(__file__).with_name("results")
DATASET = "PowerSystemRightNow"
BATCH = 20_000


class _Message:
    """A consumed message as ``prepare_batch`` reads it (no broker needed for this measurement)."""

    def __init__(self, value: bytes, offset: int) -> None:
        self._value, self._offset = value, offset

    _topic = raw_topic(DATASET)  # a real message's topic() is a C attribute read, not a settings lookup

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return b"DK"

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


def _enum(values: list[str]) -> str:
    return "ENUM(" + ", ".join("'" + v.replace("'", "''") + "'" for v in sorted(set(values))) + ")"


def enum_observations_ddl() -> str:
    """``observations`` as in migration 1, with the categorical columns as ENUMs of the vocabulary."""
    ddl = MIGRATIONS[0]
    for column, values in [("dataset", list(DATASETS)), ("zone", list(ZONES)), ("quantity", list(QUANTITIES)),
                           ("unit", [str(u) for u in Unit]), ("status", [str(s) for s in DataStatus])]:
        typed = _enum(values)
        ddl = re.sub(rf"(\n\s+{column}\s+)VARCHAR(\s+NOT NULL,)", rf"\g<1>{typed}\g<2>", ddl, count=1)
    return ddl


def timed_appends(ddl: str, table: str, frames: list[pd.DataFrame]) -> tuple[float, Path]:
    path = Path(tempfile.mkdtemp()) / "form.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(ddl)
    total = 0.0
    for frame in frames:
        began = time.perf_counter()
        connection = duckdb.connect(str(path))
        connection.execute("BEGIN")
        connection.register("incoming", frame)
        connection.execute(f"INSERT INTO {table} SELECT *, now()::TIMESTAMP FROM incoming")
        connection.execute("COMMIT")
        connection.close()
        total += time.perf_counter() - began
    return total / len(frames), path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args()
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    records = power_system_right_now_records(start, start + timedelta(minutes=BATCH * args.batches))
    fetched = datetime(2024, 6, 1, tzinfo=timezone.utc)
    messages = [_Message(encode("energidataservice", DATASET, r, fetched), i) for i, r in enumerate(records)]
    batches = [messages[i:i + BATCH] for i in range(0, len(messages), BATCH)]
    long_frames = [prepare_batch(b, "bench", now=fetched.replace(tzinfo=None)).landing.observations for b in batches]
    columns = list(dict.fromkeys(m.column for m in POWER_SYSTEM_RIGHT_NOW.mappings))
    wide_frames = []
    for number, chunk in enumerate(range(0, len(records), BATCH)):
        rows = records[chunk:chunk + BATCH]
        wide_frames.append(pd.DataFrame({
            "interval_start_utc": pd.to_datetime([r["Minutes1UTC"] for r in rows]).to_numpy("datetime64[us]"),
            **{c: np.array([r.get(c) for r in rows], dtype=float) for c in columns},
            "status": "realtime", "fetched_at_utc": np.datetime64("2024-06-01T00:00:00", "us"),
            "kafka_partition": 0, "kafka_offset": np.arange(number * BATCH, number * BATCH + len(rows))}))
    wide_ddl = ("CREATE TABLE wide (interval_start_utc TIMESTAMP NOT NULL, "
                + ", ".join(f'"{c}" DOUBLE' for c in columns)
                + ", status VARCHAR NOT NULL, fetched_at_utc TIMESTAMP, kafka_partition INTEGER, kafka_offset BIGINT,"
                  " landed_at_utc TIMESTAMP NOT NULL)")
    result: dict = {"benchmark": "storage_form", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "batches": args.batches, "records_per_batch": BATCH,
                    "long_rows_per_batch": int(np.mean([len(f) for f in long_frames]))}
    for form, ddl, table, frames in [("long", MIGRATIONS[0], "observations", long_frames),
                                     ("long_enum", enum_observations_ddl(), "observations", long_frames),
                                     ("wide", wide_ddl, "wide", wide_frames)]:
        seconds, path = timed_appends(ddl, table, frames)
        result[f"{form}_seconds_per_batch"] = round(seconds, 3)
        print(f"{form}: {seconds:.3f} s per batch (insert + commit + close)", flush=True)
        if form == "wide":
            unpivot = ("SELECT interval_start_utc, quantity, value FROM wide UNPIVOT (value FOR quantity IN ("
                       + ", ".join(f'"{c}"' for c in columns) + "))")
            with duckdb.connect(str(path), read_only=True) as connection:
                began = time.perf_counter()
                connection.execute(f"SELECT count(*), sum(value) FROM ({unpivot})").fetchall()
                result["long_view_over_wide_full_scan_seconds"] = round(time.perf_counter() - began, 3)
    result["enum_vs_long"] = round(result["long_seconds_per_batch"] / result["long_enum_seconds_per_batch"], 2)
    result["wide_vs_long"] = round(result["long_seconds_per_batch"] / result["wide_seconds_per_batch"], 2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "storage_form.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
