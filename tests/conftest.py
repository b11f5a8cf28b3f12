import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def psrn_records() -> list[dict]:
    """The real recorded PowerSystemRightNow response (2 records, 2026-04-08)."""
    return json.loads((FIXTURES / "eds_PowerSystemRightNow_2026-04-08.json").read_text())["records"]
