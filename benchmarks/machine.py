"""How fast this machine is today, recorded next to each result.

The benchmarks' goals are absolute (5 % of one core, 30,000 records/s, 30 s), but the 2-core
machines they run on differ from day to day by up to 3x per core (a pure-Python loop of 20 M
additions took 4.3 s on 2026-11-30 and 1.3-1.8 s on 2026-12-01). Ratios within one run are the
comparison that holds; this figure says how far an absolute one can be compared across runs.
"""

from __future__ import annotations

import os
import time

LOOP_ADDITIONS = 20_000_000


LOOP = f"total = 0\nfor number in range({LOOP_ADDITIONS}):\n    total += number\n"
"""Run at module level (global names, as ``python -c`` runs it), the way the figures quoted above
were taken: a loop inside a function is about 2.5x faster and would not compare."""


def speed_reference() -> dict[str, float | int]:
    """Seconds for a module-level pure-Python loop of 20 M additions (one core, best of 3) and the
    core count."""
    code = compile(LOOP, "<speed reference>", "exec")
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        exec(code, {})  # noqa: S102 -- a constant loop, the measurement itself
        best = min(best, time.perf_counter() - began)
    return {"python_loop_20m_seconds": round(best, 2), "cores": os.cpu_count() or 0}
