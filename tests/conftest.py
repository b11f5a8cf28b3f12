import json
import os
from pathlib import Path

import pytest

from energy_orchestration import settings

FIXTURES = Path(__file__).parent / "fixtures"

CLOCKS = {
    # Instants the time-dependent tests (marker `clock`) are rerun at by `make test`, whatever the
    # machine's own time and time zone. Local times are Copenhagen/Paris.
    "night": "2026-01-15T01:30:00Z",       # 02:30 local, winter: no solar at all
    "midday": "2025-06-21T10:30:00Z",      # 12:30 local, summer: solar at its peak
    "dst-spring": "2025-03-30T02:30:00Z",  # the 23-hour day: clocks jumped 02:00 -> 03:00 local at 01:00Z
    "dst-autumn": "2025-10-26T02:30:00Z",  # the 25-hour day: 03:00 -> 02:00 local at 01:00Z
}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--clock", default=None,
                     help=f"pin the platform clock (ENERGY_CLOCK_NOW) for this run: one of {sorted(CLOCKS)} "
                          "or an ISO 8601 instant with offset; meant for `-m clock`")


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--clock")
    if chosen:
        instant = CLOCKS.get(chosen, chosen)
        settings.parse_instant(instant)  # a typo fails the run at once
        os.environ["ENERGY_CLOCK_NOW"] = instant


def pytest_report_header(config: pytest.Config) -> str:
    pinned = os.environ.get("ENERGY_CLOCK_NOW")
    return f"platform clock: pinned at {pinned}" if pinned else "platform clock: the system clock"


@pytest.fixture
def psrn_records() -> list[dict]:
    """The real recorded PowerSystemRightNow response (2 records, 2026-04-08)."""
    return json.loads((FIXTURES / "eds_PowerSystemRightNow_2026-04-08.json").read_text())["records"]
