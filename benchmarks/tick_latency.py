"""Sensor tick -> rows queryable, measured on the real demo stack (`energy demo` as processes).

The live fetch runs inside ``fetch_sensor``'s tick (no run process). For each tick that moved
the PowerSystemRightNow cursor: the tick's start, its end (fetch + publish + every
acknowledgement, for every due dataset), and when the consumer's ingest log shows the window's
last minute landed in DuckDB.

    .venv/bin/python -m benchmarks.tick_latency [--ticks 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from benchmarks.demo_stack import running_demo
from energy_orchestration.warehouse import Warehouse

RESULTS = Path(__file__).with_name("results")
TICKS = """query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { ticks(limit: 50) { timestamp endTimestamp status cursor } } } } }"""
SELECTOR = {"repositoryLocationName": "energy_orchestration", "repositoryName": "__repository__",
            "sensorName": "fetch_sensor"}


def acked_psrn(tick: dict) -> str | None:
    try:
        return json.loads(tick["cursor"] or "{}").get("acked", {}).get("PowerSystemRightNow")
    except ValueError:
        return None


def fetching_ticks(ticks: list[dict]) -> list[dict]:
    """Finished ticks, oldest first, each the first to carry its PowerSystemRightNow acknowledgement
    (Dagster marks a tick without run requests SKIPPED, whatever it fetched)."""
    found, seen = [], set()
    for tick in sorted(ticks, key=lambda t: t["timestamp"]):
        acked = acked_psrn(tick)
        if tick["status"] != "FAILURE" and acked and acked not in seen and tick["endTimestamp"]:
            seen.add(acked)
            found.append(tick)
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tick-latency-"))
    ticks: list[dict] = []
    samples = []
    with running_demo(folder) as stack:
        deadline = time.monotonic() + 120 + 75 * args.ticks
        while time.monotonic() < deadline and len(fetching_ticks(ticks)) < args.ticks + 1:
            time.sleep(5)
            try:
                answer = requests.post(f"http://127.0.0.1:{stack.dagster_port}/graphql",
                                       json={"query": TICKS, "variables": {"selector": SELECTOR}}, timeout=5).json()
                ticks = answer["data"]["sensorOrError"]["sensorState"]["ticks"]
            except (requests.RequestException, ValueError, KeyError, TypeError):
                continue
            print(f"  {len(fetching_ticks(ticks))} fetching ticks so far", flush=True)
        time.sleep(5)  # let the last window land
        with Warehouse(folder / "warehouse.duckdb").connect(read_only=True) as db:
            for tick in fetching_ticks(ticks):
                end = datetime.fromisoformat(acked_psrn(tick))
                last_minute = (end - timedelta(minutes=1)).astimezone(timezone.utc).replace(tzinfo=None)
                started = datetime.fromtimestamp(tick["timestamp"], timezone.utc).replace(tzinfo=None)
                landed = db.execute("""SELECT min(landed_at_utc) FROM ingest_log
                                       WHERE dataset = 'PowerSystemRightNow' AND max_interval_utc >= ?
                                         AND landed_at_utc >= ?""", [last_minute, started]).fetchall()[0][0]
                if landed is None:
                    continue
                samples.append({"tick_at": started.isoformat(timespec="seconds"),
                                "tick_s": round(tick["endTimestamp"] - tick["timestamp"], 2),
                                "tick_to_queryable_s": round((landed - started).total_seconds(), 2)})
    latencies = [s["tick_to_queryable_s"] for s in samples]
    durations = [s["tick_s"] for s in samples]
    result = {"benchmark": "tick_latency", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "path": "fetch inside the sensor tick (no run process)", "samples": samples,
              "tick_s": {"median": statistics.median(durations), "max": max(durations)} if durations else None,
              "tick_to_queryable_s": {"median": statistics.median(latencies), "p95": percentile(latencies, 0.95),
                                      "max": max(latencies)} if latencies else None}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tick_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
