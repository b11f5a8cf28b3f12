"""Dagster's webserver and daemon as `energy demo` runs them: two of Dagster's idle loops slowed.

Every process that reaches the code server over gRPC (the webserver and the daemon) asks it for
its server id once a second, to notice a restarted code server; the daemon also fetches the
whole code location again every 60 s. At idle these two loops were the largest part of Dagster's
own CPU in the demo (benchmarks/README.md, issue 11, fifth pass), and neither has a setting. So
this module sets the module constants they read, then runs Dagster's own entry point unchanged:

    python -m energy_orchestration.dagster_loops webserver -h 127.0.0.1 -p 3000 -w workspace.yaml
    python -m energy_orchestration.dagster_loops daemon run -w workspace.yaml

The price: a restarted code server is noticed within 10 s instead of 1 s (the supervisor restarts
it on the same port, so calls in between reach the new server anyway).

The constants are private names of the pinned Dagster version. If Dagster renames them or stops
reading them at call time, start-up fails here with a message and
tests/unit/test_dagster_loops.py fails, instead of the demo silently paying the CPU again.
"""

from __future__ import annotations

import importlib
import runpy
import sys
from collections.abc import Sequence

SLOWED_LOOPS: dict[tuple[str, str], tuple[str, int]] = {
    # (module, constant): (the function that reads it at call time, seconds)
    ("dagster._grpc.server_watcher", "WATCH_INTERVAL"): ("watch_grpc_server_thread", 10),
    ("dagster._daemon.controller", "RELOAD_WORKSPACE_INTERVAL"): ("DagsterDaemonController.check_workspace_freshness",
                                                                 180),
}

ENTRY_POINTS = {"webserver": "dagster_webserver", "daemon": "dagster._daemon"}


def slow_dagster_loops() -> None:
    """Set every constant of SLOWED_LOOPS; a RuntimeError naming it when Dagster no longer has it."""
    for (module_name, constant), (reader, seconds) in SLOWED_LOOPS.items():
        module = importlib.import_module(module_name)
        present = isinstance(getattr(module, constant, None), int | float)
        if not present or constant not in _global_names(module, reader):
            raise RuntimeError(f"{module_name}.{constant} is no longer read by {reader} in this Dagster version: "
                               "update energy_orchestration/dagster_loops.py")
        setattr(module, constant, seconds)


def _global_names(module: object, reader: str) -> tuple[str, ...]:
    """The global names the function ``reader`` (dotted within ``module``) looks up when it runs."""
    function = module
    for part in reader.split("."):
        function = getattr(function, part, None)
    code = getattr(function, "__code__", None)
    return code.co_names if code is not None else ()


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in ENTRY_POINTS:
        raise SystemExit(f"usage: python -m energy_orchestration.dagster_loops {{{','.join(ENTRY_POINTS)}}} ARGS...")
    slow_dagster_loops()
    sys.argv = [ENTRY_POINTS[args[0]], *args[1:]]
    runpy.run_module(ENTRY_POINTS[args[0]], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
