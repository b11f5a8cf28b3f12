"""The fetch path on its own, no consumer running, in two shapes:

- history: 31-day PowerSystemRightNow pages from the stand-in, read and published to the embedded
  broker with every record acknowledged (``ingest.fetch_and_publish``). Issue 11's year
  benchmarks spend about two thirds of their wall here;
- live tick (``--ticks N``): what ``fetch_sensor`` does each minute when every live dataset is
  due (``ingest.fetch_windows_within`` over a 15-minute window of each), wall per tick.

Each round runs the same work twice, alternating, in fresh worker processes against one
stand-in process and one broker: with this checkout's ``energy_orchestration`` and with
``--baseline-code`` (another checkout, e.g. ``git worktree add /tmp/base <commit>``), so the
ratio is measured in one run. Reported per code: wall and the fetching process's CPU seconds
(the stand-in's are the same code in both and reported apart).

    .venv/bin/python -m benchmarks.fetch_publish --baseline-code DIR [--windows 3] [--ticks 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).with_name("results")
HERE = Path(__file__).resolve()


def worker(standin_url: str, bootstrap: str, windows: int) -> None:
    """Fetch and publish ``windows`` consecutive 31-day windows; print wall, CPU and records."""
    from datetime import timedelta

    from energy_orchestration.ingest import Window, fetch_and_publish
    from energy_orchestration.sources.energidataservice import EnergiDataServiceClient

    client = EnergiDataServiceClient(standin_url)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    published = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for n in range(windows):
        window = Window("PowerSystemRightNow", start + timedelta(days=31 * n), start + timedelta(days=31 * (n + 1)))
        published += fetch_and_publish(client, bootstrap, window).published
    print(json.dumps({"records": published, "wall_seconds": time.perf_counter() - wall,
                      "cpu_seconds": time.process_time() - cpu}))


def tick_worker(standin_url: str, bootstrap: str, ticks: int) -> None:
    """``ticks`` live ticks, each a 15-minute window of every live dataset ending 30 minutes ago
    (published by the stand-in's clock); print each tick's wall, the CPU and records."""
    from datetime import timedelta

    from energy_orchestration.assets.keys import LIVE_DATASETS
    from energy_orchestration.ingest import Window, fetch_windows_within, floor_to
    from energy_orchestration.resources import EnergiDataServiceResource, OdreResource

    resources = {"energidataservice": EnergiDataServiceResource(base_url=standin_url),
                 "odre": OdreResource(base_url=standin_url)}
    end = floor_to(datetime.now(timezone.utc) - timedelta(minutes=30), timedelta(minutes=15))
    windows = [Window(dataset, end - timedelta(minutes=15), end) for dataset in LIVE_DATASETS]
    walls, published = [], 0
    cpu = time.process_time()
    for _ in range(ticks):
        began = time.perf_counter()
        outcome = fetch_windows_within(windows, lambda provider, until: resources[provider].client(deadline=until),
                                       bootstrap, None, deadline=time.monotonic() + 30)
        walls.append(time.perf_counter() - began)
        if outcome.failures or outcome.not_reached:
            raise SystemExit(f"a tick did not publish everything: {outcome.failures} {outcome.not_reached}")
        published += sum(o.published for o in outcome.outcomes)
    print(json.dumps({"records": published, "wall_seconds": statistics.median(walls),
                      "cpu_seconds": time.process_time() - cpu, "walls": walls}))


def run_worker(code: Path, standin_url: str, standin_pid: int, bootstrap: str, windows: int,
               mode: str = "--worker") -> dict:
    from benchmarks.broker_fetch_wait import process_cpu_seconds

    path = [str(code.resolve()), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    standin_before = process_cpu_seconds(standin_pid)
    answer = subprocess.run([sys.executable, str(HERE), mode, standin_url, bootstrap, str(windows)],
                            env=env, cwd=code, capture_output=True, text=True, check=True)
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    result["standin_cpu_seconds"] = process_cpu_seconds(standin_pid) - standin_before
    return result


def summary(runs: list[dict]) -> dict:
    """Medians over the rounds (for ticks, of each round's median tick)."""
    wall = statistics.median(r["wall_seconds"] for r in runs)
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    records = runs[0]["records"]
    return {"records": records, "wall_seconds_median": round(wall, 2), "fetching_cpu_seconds_median": round(cpu, 2),
            "standin_cpu_seconds_median": round(statistics.median(r["standin_cpu_seconds"] for r in runs), 2),
            "records_per_s": round(records / wall), "each": [{k: rounded(v) for k, v in r.items()} for r in runs]}


def rounded(value: float | list[float]) -> float | list[float]:
    return [round(x, 3) for x in value] if isinstance(value, list) else round(value, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline-code", type=Path, required=True)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--ticks", type=int, default=0, help="live ticks per worker instead of history windows")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    mode, amount = ("--tick-worker", args.ticks) if args.ticks else ("--worker", args.windows)

    from benchmarks.processes import standin_process
    from energy_orchestration.sources import DATASETS
    from energy_orchestration.streaming.broker import EmbeddedBroker
    from energy_orchestration.streaming.topics import all_topics, ensure_topics

    codes = {"ours": HERE.parents[1], "baseline": args.baseline_code}
    runs: dict[str, list[dict]] = {name: [] for name in codes}
    with tempfile.TemporaryDirectory() as folder, EmbeddedBroker() as broker, \
            standin_process(Path(folder)) as url:
        ensure_topics(broker.bootstrap_servers, all_topics(list(DATASETS)))
        standin_pid = int(subprocess.run(["pgrep", "-P", str(os.getpid()), "-f", "energy_orchestration.cli standin"],
                                         capture_output=True, text=True, check=True).stdout.split()[0])
        for round_ in range(args.rounds):
            for name in (("ours", "baseline") if round_ % 2 == 0 else ("baseline", "ours")):
                runs[name].append(run_worker(codes[name], url, standin_pid, broker.bootstrap_servers, amount, mode))
                print(f"round {round_ + 1} {name}: {runs[name][-1]}", flush=True)
    ours, baseline = summary(runs["ours"]), summary(runs["baseline"])
    cpu = "fetching_cpu_seconds_median"
    result = {"benchmark": "fetch_publish", "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              **({"live_ticks_per_worker": args.ticks} if args.ticks else {"windows_of_31_days": args.windows}),
              "rounds": args.rounds, "ours": ours,
              "baseline": {"code": str(args.baseline_code), **baseline},
              "wall_ratio": round(ours["wall_seconds_median"] / baseline["wall_seconds_median"], 2),
              "fetching_cpu_ratio": round(ours[cpu] / baseline[cpu], 2)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"fetch_publish{'_tick' if args.ticks else ''}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("ours", "baseline")}, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] in ("--worker", "--tick-worker"):
        (worker if sys.argv[1] == "--worker" else tick_worker)(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
