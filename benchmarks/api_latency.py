"""Latency of `energy serve`: the latest-per-zone endpoint under an open-loop load of 200
requests/s, and the day query for one zone, against the same answers read from DuckDB.

Open loop: request i is sent at start + i/rate whatever happened to earlier ones, and its
latency counts from that planned time, so a stall shows up in the figures instead of slowing
the load down (no coordinated omission).

    .venv/bin/python -m benchmarks.api_latency [--rate 200] [--seconds 30] [--hours 24]
"""

from __future__ import annotations

import argparse
import http.client
import json
import queue
import statistics
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

from benchmarks.serving_stack import serving_stack

RESULTS = Path(__file__).with_name("results")
ZONES = ("DK-DK1", "DK-DK2", "DK", "FR", "FR-84", "FR-11")


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": round(pick(0.50), 2), "p90_ms": round(pick(0.90), 2),
            "p99_ms": round(pick(0.99), 2), "max_ms": round(ordered[-1], 2),
            "mean_ms": round(statistics.fmean(ordered), 2)}


def open_loop(url: str, paths: list[str], rate: float, seconds: float, workers: int = 64) -> tuple[list[float], int]:
    """A dispatcher releases request i at start + i/rate into a queue; worker threads with one
    keep-alive connection each send them. Time waiting for a free worker counts as latency.
    (Threads with http.client rather than an async client: httpx's pool degrades under
    hundreds of pending requests and measured itself, not the server.)"""
    host, port = url.removeprefix("http://").split(":")
    jobs: queue.Queue[tuple[float, str] | None] = queue.Queue()
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        while (job := jobs.get()) is not None:
            planned, path = job
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            done = time.perf_counter()
            with lock:
                latencies.append((done - planned) * 1000)
                if response.status != 200 or b'"values":[]' in body:
                    errors[0] += 1
        connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for thread in threads:
        thread.start()
    start = time.perf_counter() + 0.1
    for i in range(int(rate * seconds)):
        planned = start + i / rate
        time.sleep(max(0.0, planned - time.perf_counter()))
        jobs.put((planned, paths[i % len(paths)]))
    for _ in threads:
        jobs.put(None)
    for thread in threads:
        thread.join()
    return latencies, errors[0]


def closed_loop(url: str, path: str, repeats: int) -> tuple[list[float], int]:
    latencies, rows = [], 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(repeats):
            began = time.perf_counter()
            answer = client.get(path)
            latencies.append((time.perf_counter() - began) * 1000)
            answer.raise_for_status()
            rows = len(answer.json()["items"])
    return latencies, rows


def warehouse_latest(stack, repeats: int) -> list[float]:
    """The baseline: the same latest-per-zone answer computed by DuckDB for each request."""
    latencies = []
    for i in range(repeats):
        zone = ZONES[i % len(ZONES)]
        began = time.perf_counter()
        with stack.warehouse.connect(read_only=True) as db:
            db.execute("""SELECT quantity, value, interval_start_utc FROM observations WHERE zone = ?
                          QUALIFY row_number() OVER (PARTITION BY quantity ORDER BY interval_start_utc DESC) = 1""",
                       [zone]).fetchall()
        latencies.append((time.perf_counter() - began) * 1000)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--hours", type=int, default=24, help="history landed before measuring")
    parser.add_argument("--day-repeats", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, serving_stack(Path(folder), args.hours) as stack:
        with stack.warehouse.connect(read_only=True) as db:
            rows = db.execute("SELECT count(*) FROM observations").fetchall()[0][0]
        print(f"warehouse holds {rows:,} observations; warming up ...", flush=True)
        open_loop(stack.url, [f"/api/v1/zones/{z}/latest" for z in ZONES], 50, 2)
        print(f"latest per zone: {args.rate:g} req/s for {args.seconds:g} s (open loop) ...", flush=True)
        latencies, errors = open_loop(stack.url, [f"/api/v1/zones/{z}/latest" for z in ZONES], args.rate,
                                      args.seconds)
        latest = {**percentiles(latencies), "rate_per_s": args.rate, "seconds": args.seconds, "errors": errors}
        print(f"  {latest}", flush=True)
        baseline = percentiles(warehouse_latest(stack, 300))
        print(f"  baseline (same answer from DuckDB, in-process, sequential): {baseline}", flush=True)
        today = datetime.now(ZoneInfo("Europe/Copenhagen")).date()
        day_path = f"/api/v1/zones/DK-DK1/days/{today}"
        day_latencies, day_rows = closed_loop(stack.url, day_path, args.day_repeats)
        day = {**percentiles(day_latencies), "path": day_path, "rows": day_rows}
        print(f"  day query: {day}", flush=True)
    result = {"benchmark": "api_latency", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "history_hours": args.hours, "observations": rows, "latest_per_zone": latest,
              "latest_from_duckdb_baseline": baseline,
              "p99_ratio_baseline_over_api": round(baseline["p99_ms"] / latest["p99_ms"], 1),
              "day_query": day}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "api_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
