"""Sensor tick -> rows queryable, measured on the real demo stack (`energy demo` as processes).

The live fetch runs inside ``fetch_sensor``'s tick (no run process). For each tick that moved
the PowerSystemRightNow cursor: the tick's start, its end (fetch + publish + every
acknowledgement, for every due dataset), and when the consumer's ingest log shows the window's
last minute landed in DuckDB.

    .venv/bin/python -m benchmarks.tick_latency [--ticks 5] [--warmup 0] [--partitions 4,1 | --baseline-code DIR]

``--partitions`` runs one stack per topic partition count side by side, measured over the same
ticks' window (results/tick_latency_partitions.json); ``--baseline-code`` runs a stack of another
checkout beside this one the same way (results/tick_latency.json, with ratios).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

from benchmarks.demo_stack import DemoStack, running_demo
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


def follow_ticks(stack: DemoStack, ticks: list[dict]) -> list[dict]:
    """The fetch sensor's latest ticks from the stack's GraphQL API (the previous ones on a miss)."""
    try:
        answer = requests.post(f"http://127.0.0.1:{stack.dagster_port}/graphql",
                               json={"query": TICKS, "variables": {"selector": SELECTOR}}, timeout=5).json()
        return answer["data"]["sensorOrError"]["sensorState"]["ticks"]
    except (requests.RequestException, ValueError, KeyError, TypeError):
        return ticks


def samples_of(stack: DemoStack, ticks: list[dict]) -> list[dict]:
    """Per fetching tick: its duration and how long until its last minute was queryable (None:
    never, counted in the summary rather than left out)."""
    samples = []
    with Warehouse(stack.folder / "warehouse.duckdb").connect(read_only=True) as db:
        for tick in fetching_ticks(ticks):
            end = datetime.fromisoformat(acked_psrn(tick))
            last_minute = (end - timedelta(minutes=1)).astimezone(timezone.utc).replace(tzinfo=None)
            started = datetime.fromtimestamp(tick["timestamp"], timezone.utc).replace(tzinfo=None)
            landed = db.execute("""SELECT min(landed_at_utc) FROM ingest_log
                                   WHERE dataset = 'PowerSystemRightNow' AND max_interval_utc >= ?
                                     AND landed_at_utc >= ?""", [last_minute, started]).fetchall()[0][0]
            samples.append({"tick_at": started.isoformat(timespec="seconds"),
                            "tick_s": round(tick["endTimestamp"] - tick["timestamp"], 2),
                            "tick_to_queryable_s": round((landed - started).total_seconds(), 2) if landed else None})
    return samples


def summary(samples: list[dict]) -> dict:
    latencies = [s["tick_to_queryable_s"] for s in samples if s["tick_to_queryable_s"] is not None]
    durations = [s["tick_s"] for s in samples]
    return {"samples": samples, "ticks_never_queryable": len(samples) - len(latencies),
            "tick_s": {"median": statistics.median(durations), "max": max(durations)} if durations else None,
            "tick_to_queryable_s": {"median": statistics.median(latencies), "p95": percentile(latencies, 0.95),
                                    "max": max(latencies)} if latencies else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--partitions", default=None,
                        help="comma-separated topic partition counts (e.g. 4,1): one stack each, all in the same "
                             "window, so the hourly runs fall on every case; the first is the baseline")
    parser.add_argument("--baseline-code", type=Path, default=None,
                        help="a checkout of an earlier commit, whose stack runs beside this one, same ticks' window")
    parser.add_argument("--warmup", type=float, default=0,
                        help="seconds after start-up whose ticks are not measured: a fresh demo repairs its "
                             "first 72 hours (gap repair) and builds their aggregates in its first minutes")
    args = parser.parse_args()
    # label -> (code, settings) of one stack each, all side by side
    cases: dict[str | None, tuple[Path | None, dict[str, str] | None]] = {None: (None, None)}
    if args.partitions:
        cases = {f"{p} partition(s) per topic": (None, {"ENERGY_TOPIC_PARTITIONS": p})
                 for p in args.partitions.split(",")}
    elif args.baseline_code:
        cases = {None: (None, None), "baseline": (args.baseline_code, None)}
    ticks: dict[str | None, list[dict]] = {case: [] for case in cases}
    with ExitStack() as running:
        stacks = {case: running.enter_context(running_demo(
                      Path(tempfile.mkdtemp(prefix="tick-latency-")), code=code, settings=settings))
                  for case, (code, settings) in cases.items()}
        measured_from = time.time() + args.warmup
        deadline = time.monotonic() + args.warmup + 120 + 75 * args.ticks
        while time.monotonic() < deadline and min(len(fetching_ticks(t)) for t in ticks.values()) < args.ticks + 1:
            time.sleep(5)
            ticks = {case: [t for t in follow_ticks(stack, ticks[case]) if t["timestamp"] >= measured_from]
                     for case, stack in stacks.items()}
            print(f"  fetching ticks so far: {[len(fetching_ticks(t)) for t in ticks.values()]}", flush=True)
        time.sleep(5)  # let the last window land
        measured = {case: summary(samples_of(stack, ticks[case])) for case, stack in stacks.items()}
    result = {"benchmark": "tick_latency", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "path": "fetch inside the sensor tick (no run process)", "warmup_seconds": args.warmup}
    if args.partitions:
        result["cases"] = measured
        medians = [m["tick_to_queryable_s"]["median"] if m["tick_to_queryable_s"] else None for m in measured.values()]
        if all(medians):
            result["median_vs_first_case"] = [round(m / medians[0], 2) for m in medians]
        name = "tick_latency_partitions.json"
    else:
        result.update(measured[None])
        if args.baseline_code:
            baseline = measured["baseline"]
            result["baseline"] = {"code": str(args.baseline_code), **baseline}
            if result["tick_to_queryable_s"] and baseline["tick_to_queryable_s"]:
                result["ratio_to_baseline"] = {
                    stat: round(result["tick_to_queryable_s"][stat] / baseline["tick_to_queryable_s"][stat], 2)
                    for stat in ("median", "p95")}
        name = "tick_latency.json"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
