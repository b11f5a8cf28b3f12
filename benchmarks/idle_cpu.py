"""CPU the running demo stack uses while it only keeps up with live data.

Sums user + system time (including reaped children, e.g. Dagster run workers) of every process
whose environment carries the stack's state folder, over a window after a warm-up, and reports
the stack's memory at the end: RSS summed over its processes (counts shared pages once per
process, so it overstates) and PSS (shared pages split between their users: the honest total).

    .venv/bin/python -m benchmarks.idle_cpu [--warmup 90] [--seconds 600] [--baseline-code DIR]
        [--dagster-floor]

``--dagster-floor`` adds, in the same window, the demo's three Dagster processes with nothing of
ours to run (``benchmarks/dagster_floor.py``): the part of the stack's idle CPU that is Dagster's
own and that no change to our code can remove.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, ContextManager, Iterator

from benchmarks.dagster_floor import CASES as FLOOR_CASES
from benchmarks.dagster_floor import running_floor
from benchmarks.demo_stack import running_demo
from benchmarks.machine import speed_reference

RESULTS = Path(__file__).with_name("results")
TICKS = os.sysconf("SC_CLK_TCK")


def stack_processes(marker: str) -> Iterator[tuple[str, str]]:
    """(pid, short command label) of the processes carrying ``marker`` in their environment."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() not in Path(f"/proc/{pid}/environ").read_bytes():
                continue
            name = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        yield pid, " ".join(part.decode(errors="replace").rsplit("/", 1)[-1] for part in name[:4])[:60]


def cpu_seconds(marker: str) -> dict[str, float]:
    """CPU seconds per command name of the processes carrying ``marker`` in their environment."""
    used: dict[str, float] = {}
    for pid, label in stack_processes(marker):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[label] = used.get(label, 0.0) + sum(int(x) for x in fields[11:15]) / TICKS
    return used


def memory_mb(marker: str) -> dict[str, dict[str, float]]:
    """RSS and PSS (MB) per command name of the processes carrying ``marker`` in their environment."""
    used: dict[str, dict[str, float]] = {}
    for pid, label in stack_processes(marker):
        try:
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]  # after the address line
            fields = dict(line.split(":", 1) for line in rollup if ":" in line)
        except (OSError, ValueError):
            continue
        entry = used.setdefault(label, {"rss": 0.0, "pss": 0.0})
        entry["rss"] += int(fields.get("Rss", "0 kB").split()[0]) / 1024
        entry["pss"] += int(fields.get("Pss", "0 kB").split()[0]) / 1024
    return used


Starter = Callable[[Path], ContextManager]
"""Starts one stack in a fresh folder; what it yields has a ``marker`` (idle_cpu.stack_processes)."""


def demo(code: Path | None = None) -> Starter:
    """The demo stack of this checkout (None) or of another one."""
    return lambda folder: running_demo(folder, code=code)


def floor(case: str) -> Starter:
    """Dagster's own processes in one case of benchmarks/dagster_floor.py."""
    return lambda folder: running_floor(folder, case)


def measure(warmup: float, seconds: float, starters: list[Starter]) -> list[dict]:
    """CPU and memory of one stack per starter, all running at the same time and measured over
    the same window: the stacks' hourly build chains (zone_hourly 12 minutes after each hour,
    then the rollups, ≈ 16 CPU-s) then fall in both windows or in neither, which sequential
    windows cannot promise."""
    with ExitStack() as running:
        stacks = [running.enter_context(start(Path(tempfile.mkdtemp(prefix="idle-cpu-")))) for start in starters]
        time.sleep(warmup)
        before = [cpu_seconds(stack.marker) for stack in stacks]
        print(f"measuring {len(stacks)} stack(s) for {seconds:.0f}s ...", flush=True)
        time.sleep(seconds)
        after = [cpu_seconds(stack.marker) for stack in stacks]
        memory = [memory_mb(stack.marker) for stack in stacks]
    results = []
    for start, end, used in zip(before, after, memory, strict=True):
        per_process = {name: round(end[name] - start.get(name, 0.0), 1) for name in end}
        total = sum(per_process.values())
        results.append({
            "seconds": seconds, "warmup_seconds": warmup, "cpu_seconds": round(total, 1),
            "percent_of_one_core": round(100 * total / seconds, 1),
            "by_process": dict(sorted(per_process.items(), key=lambda kv: -kv[1])),
            "rss_mb": round(sum(m["rss"] for m in used.values())),
            "pss_mb": round(sum(m["pss"] for m in used.values())),
            "memory_by_process_mb": {name: {k: round(v) for k, v in m.items()}
                                     for name, m in sorted(used.items(), key=lambda kv: -kv[1]["pss"])}})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--warmup", type=float, default=90)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--baseline-code", type=Path, default=None,
                        help="a checkout of an earlier commit, whose stack runs beside this one, same window")
    parser.add_argument("--dagster-floor", action="store_true",
                        help="also measure Dagster's own processes with nothing of ours to run, same window")
    args = parser.parse_args()
    starters = [demo(), *([demo(args.baseline_code)] if args.baseline_code else []),
                *([floor(case) for case in FLOOR_CASES] if args.dagster_floor else [])]
    ours, *others = measure(args.warmup, args.seconds, starters)
    result = {"benchmark": "idle_cpu", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": speed_reference(), **ours}
    if args.baseline_code:
        baseline = others.pop(0)
        result["baseline"] = {"code": str(args.baseline_code), **baseline}
        result["ratio_to_baseline"] = round(ours["cpu_seconds"] / max(baseline["cpu_seconds"], 0.1), 2)
    if args.dagster_floor:
        result["dagster_floor"] = dict(zip(FLOOR_CASES, others, strict=True))
        dagster = sum(v for name, v in ours["by_process"].items() if "dagster" in name)
        result["dagster_processes_cpu_seconds"] = round(dagster, 1)
        result["dagster_vs_floor"] = {case: round(dagster / max(floor_result["cpu_seconds"], 0.1), 2)
                                      for case, floor_result in result["dagster_floor"].items()}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "idle_cpu.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
