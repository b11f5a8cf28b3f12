"""Export throughput: a year of ``zone_hourly`` and a month of minute observations of one zone, as
CSV and Parquet, through the API (``energy serve`` as its own process, a real socket) and the CLI
(``energy export`` as its own process), against JSON of the same rows in the same run (the API's
JSON pages of 10,000 rows, walked with ``next_cursor``).

Also measured, in-process: how long the warehouse's read lock is held per export (DuckDB's
``COPY`` into the temporary file, ``serving.exports.write``), against the alternative of streaming
CSV from a cursor (``fetchmany`` + the ``csv`` module), which would hold the lock at least that
long and, through a socket, as long as the client takes to read.

The data is generated, not fetched: observations are inserted with SQL (a year of 15-minute
values of 12 quantities for FR-84, as éCO2mix regional; a month of 1-minute values of 20
quantities for DK-DK1, as PowerSystemRightNow), then ``zone_hourly`` and the period tables are
built from them by the aggregates' own builders (``build_aggregates``).

    .venv/bin/python -m benchmarks.export_throughput [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timezone
from pathlib import Path

import requests

from energy_orchestration.model import QUANTITIES
from energy_orchestration.serving import exports, queries
from energy_orchestration.streaming.broker import free_port
from energy_orchestration.warehouse import Warehouse
from tests.integration.serving_support import build_aggregates

RESULTS = Path(__file__).with_name("results")
YEAR = (date(2025, 1, 1), date(2025, 12, 31))
MONTH = (date(2025, 6, 1), date(2025, 6, 30))
MONTH_UTC = (datetime(2025, 5, 31, 22), datetime(2025, 6, 30, 22))  # the local month of Copenhagen (CEST)


def generate(warehouse: Warehouse) -> dict[str, int]:
    """The two data sets, inserted with SQL (seconds), then the aggregates built from them."""
    production = [q for q in QUANTITIES if q.startswith("production_")]
    year_quantities = (production + ["consumption"])[:12]
    month_quantities = (production + ["consumption", "exchange_de", "exchange_no", "exchange_se",
                                      "co2_intensity_reported"])[:20]
    month_quantities = [q for q in month_quantities if q in QUANTITIES]

    def fill(zone: str, dataset: str, first: datetime, last: datetime, minutes: int, names: list[str]) -> None:
        with warehouse.transaction() as db:
            db.execute(f"""
                INSERT INTO observations (dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit,
                                          status, fetched_at_utc, landed_at_utc)
                SELECT ?, ?, q.quantity, t.ts, {minutes}, round(500 + 300 * sin(epoch(t.ts) / 9000.0 + q.k), 3),
                       'MW', 'realtime', t.ts + INTERVAL 1 MINUTE, t.ts + INTERVAL 2 MINUTE
                FROM generate_series(?::TIMESTAMP, ?::TIMESTAMP - INTERVAL {minutes} MINUTE,
                                     INTERVAL {minutes} MINUTE) AS t(ts)
                CROSS JOIN (SELECT unnest(?::VARCHAR[]) AS quantity, generate_subscripts(?::VARCHAR[], 1) AS k) q""",
                       [dataset, zone, first, last, names, names])

    fill("FR-84", "eco2mix-regional-tr", datetime(2024, 12, 31), datetime(2026, 1, 2), 15, year_quantities)
    fill("DK-DK1", "PowerSystemRightNow", datetime(2025, 5, 31), datetime(2025, 7, 2), 1, month_quantities)
    build_aggregates(warehouse)
    with warehouse.connect(read_only=True) as db:
        return {"observations": db.execute("SELECT count(*) FROM observations").fetchall()[0][0],
                "zone_hourly": db.execute("SELECT count(*) FROM zone_hourly").fetchall()[0][0]}


def start_api(warehouse: Warehouse, folder: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KAFKA_BOOTSTRAP_SERVERS"}
    env.update({"ENERGY_WAREHOUSE_PATH": str(warehouse.path), "ENERGY_API_HOST": "127.0.0.1",
                "ENERGY_API_PORT": str(port)})
    log = open(folder / "api.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "serve"], env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return server, url
        except requests.RequestException:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"energy serve did not start; see {folder / 'api.log'}")
        time.sleep(0.2)


def figures(rows: int, size: int, seconds: list[float]) -> dict[str, float]:
    wall = statistics.median(seconds)
    return {"rows": rows, "bytes": size, "seconds_median": round(wall, 3),
            "seconds_all": [round(s, 3) for s in seconds], "rows_per_s": round(rows / wall),
            "mb_per_s": round(size / 1e6 / wall, 1)}


def api_download(session: requests.Session, url: str, params: dict) -> tuple[int, int]:
    """One CSV/Parquet answer read to its end: (rows from X-Row-Count, bytes)."""
    with session.get(url, params=params, stream=True, timeout=600) as answer:
        answer.raise_for_status()
        size = sum(len(chunk) for chunk in answer.iter_content(1 << 16))
        return int(answer.headers["X-Row-Count"]), size


def api_json(session: requests.Session, url: str, params: dict) -> tuple[int, int]:
    """Every row as JSON: pages of 10,000 walked with next_cursor, each page decoded (as a client would)."""
    rows = size = 0
    cursor = None
    while True:
        answer = session.get(url, params={**params, "limit": 10_000, **({"cursor": cursor} if cursor else {})},
                             timeout=600)
        answer.raise_for_status()
        size += len(answer.content)
        body = answer.json()
        rows += len(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return rows, size


def timed(repeats: int, run) -> tuple[tuple[int, int], list[float]]:
    seconds, result = [], (0, 0)
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
    return result, seconds


def cursor_csv(warehouse: Warehouse, selection: queries.Selection, path: Path) -> int:
    """The alternative to COPY: CSV from a cursor with ``fetchmany`` and the ``csv`` module (times
    formatted by DuckDB as in the JSON path), the warehouse lock held throughout."""
    rows = 0
    with warehouse.connect(read_only=True) as db, path.open("w", newline="") as out:
        description = db.execute(f"{selection.sql()} LIMIT 0", selection.params).description
        cursor = db.execute(f"SELECT {exports.projection(description, 'csv')} FROM ({selection.sql()})",
                            selection.params)
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([d[0] for d in cursor.description])
        while batch := cursor.fetchmany(10_000):
            writer.writerows(batch)
            rows += len(batch)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="export-bench-") as folder_name:
        folder = Path(folder_name)
        warehouse = Warehouse(folder / "warehouse.duckdb")
        started = time.perf_counter()
        counts = generate(warehouse)
        print(f"generated {counts} in {time.perf_counter() - started:.1f} s", flush=True)
        cases = {
            "zone_hourly_year": ("/api/v1/zones/FR-84/aggregates/hourly",
                                 {"from": YEAR[0].isoformat(), "to": YEAR[1].isoformat()},
                                 ["--zone", "FR-84", "--grain", "hourly", "--from", YEAR[0].isoformat(),
                                  "--to", YEAR[1].isoformat()],
                                 queries.aggregate_selection("hourly", "FR-84", *YEAR)),
            "observations_month": ("/api/v1/zones/DK-DK1/observations",
                                   {"from": f"{MONTH_UTC[0]:%Y-%m-%dT%H:%MZ}", "to": f"{MONTH_UTC[1]:%Y-%m-%dT%H:%MZ}"},
                                   ["--zone", "DK-DK1", "--grain", "minute", "--from", MONTH[0].isoformat(),
                                    "--to", MONTH[1].isoformat()],
                                   queries.observation_selection("DK-DK1", MONTH_UTC[0], MONTH_UTC[1])),
        }
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        report: dict = {"benchmark": "export_throughput", "at": now,
                        "repeats": args.repeats, "warehouse": counts, "cases": {}}
        server, url = start_api(warehouse, folder)
        try:
            session = requests.Session()
            for name, (path, params, cli_args, selection) in cases.items():
                case: dict = {}
                print(f"{name}: API ...", flush=True)
                result, seconds = timed(args.repeats, lambda: api_json(session, url + path, params))  # noqa: B023
                case["api_json_baseline"] = figures(*result, seconds)
                for fmt in exports.EXPORT_FORMATS:
                    result, seconds = timed(args.repeats,
                                            lambda: api_download(session, url + path, {**params, "format": fmt}))  # noqa: B023
                    case[f"api_{fmt}"] = figures(*result, seconds)
                    assert case[f"api_{fmt}"]["rows"] == case["api_json_baseline"]["rows"], case
                print(f"{name}: CLI ...", flush=True)
                env = {**os.environ, "ENERGY_WAREHOUSE_PATH": str(warehouse.path)}
                for fmt in exports.EXPORT_FORMATS:
                    out = folder / f"{name}.{fmt}"

                    def cli() -> tuple[int, int]:
                        done = subprocess.run([sys.executable, "-m", "energy_orchestration.cli", "export", *cli_args,  # noqa: B023
                                               "--format", fmt, "-o", str(out)], env=env, capture_output=True,  # noqa: B023
                                              text=True, timeout=600)
                        assert done.returncode == 0, done.stderr
                        return int(done.stderr.split(" rows,")[0].split()[-1].replace(",", "")), out.stat().st_size  # noqa: B023
                    result, seconds = timed(args.repeats, cli)
                    case[f"cli_{fmt}"] = figures(*result, seconds)
                print(f"{name}: lock hold ...", flush=True)
                for fmt in exports.EXPORT_FORMATS:
                    out = folder / f"held.{fmt}"

                    def copy() -> tuple[int, int]:
                        with warehouse.connect(read_only=True) as db:
                            written = exports.write(db, selection, fmt, out)  # noqa: B023
                        return written.rows, written.bytes
                    result, seconds = timed(args.repeats, copy)
                    case[f"lock_held_copy_{fmt}"] = figures(*result, seconds)
                out = folder / "cursor.csv"
                result, seconds = timed(args.repeats, lambda: (cursor_csv(warehouse, selection, out),  # noqa: B023
                                                               out.stat().st_size))  # noqa: B023
                case["lock_held_cursor_csv_alternative"] = figures(*result, seconds)
                base = case["api_json_baseline"]["seconds_median"]
                case["speedup_over_json"] = {fmt: round(base / case[f"api_{fmt}"]["seconds_median"], 1)
                                             for fmt in exports.EXPORT_FORMATS}
                report["cases"][name] = case
                print(json.dumps(case, indent=1), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "export_throughput.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
