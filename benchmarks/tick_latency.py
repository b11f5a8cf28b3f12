"""Sensor tick -> rows queryable, measured on the real demo stack (`energy demo` as processes).

For each successful fetch run: the run's creation (the tick that launched it), its start and
end, and when the consumer's ingest log shows the window's last minute landed in DuckDB.

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
RUNS = """query { runsOrError(filter: {pipelineName: "fetch_job", statuses: [SUCCESS]}) {
  ... on Runs { results { runId creationTime startTime endTime tags { key value } } } } }"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tick-latency-"))
    runs: list[dict] = []
    samples = []
    with running_demo(folder) as stack:
        deadline = time.monotonic() + 120 + 75 * args.ticks
        while time.monotonic() < deadline and len(runs) < args.ticks + 1:
            time.sleep(5)
            try:
                answer = requests.post(f"http://127.0.0.1:{stack.dagster_port}/graphql", json={"query": RUNS},
                                       timeout=5).json()
                runs = answer["data"]["runsOrError"]["results"]
            except (requests.RequestException, ValueError, KeyError, TypeError):
                continue
            print(f"  {len(runs)} successful fetch runs so far", flush=True)
        time.sleep(5)  # let the last window land
        with Warehouse(folder / "warehouse.duckdb").connect(read_only=True) as db:
            for run in sorted(runs, key=lambda r: r["creationTime"]):
                tags = {t["key"]: t["value"] for t in run["tags"]}
                end = datetime.fromisoformat(tags["energy/acked_until/PowerSystemRightNow"])
                last_minute = (end - timedelta(minutes=1)).astimezone(timezone.utc).replace(tzinfo=None)
                created = datetime.fromtimestamp(run["creationTime"], timezone.utc).replace(tzinfo=None)
                landed = db.execute("""SELECT min(landed_at_utc) FROM ingest_log
                                       WHERE dataset = 'PowerSystemRightNow' AND max_interval_utc >= ?
                                         AND landed_at_utc >= ?""", [last_minute, created]).fetchall()[0][0]
                if landed is None:
                    continue
                samples.append({"run": run["runId"][:8],
                                "tick_to_start_s": round(run["startTime"] - run["creationTime"], 2),
                                "run_s": round(run["endTime"] - run["startTime"], 2),
                                "tick_to_queryable_s": round((landed - created).total_seconds(), 2)})
    latencies = [s["tick_to_queryable_s"] for s in samples]
    result = {"benchmark": "tick_latency", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "samples": samples,
              "tick_to_queryable_s": ({"median": statistics.median(latencies), "max": max(latencies)}
                                      if latencies else None)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tick_latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
