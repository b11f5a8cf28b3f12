"""Warehouse sessions are UTC whatever the machine's zone (all timestamps are naive UTC)."""

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_now_is_utc_in_a_paris_configured_process(tmp_path):
    script = f"""
from datetime import datetime, timezone
from pathlib import Path
from energy_orchestration.warehouse import Warehouse
with Warehouse(Path({str(tmp_path / 'w.duckdb')!r})).connect() as db:
    now = db.execute("SELECT now()::TIMESTAMP").fetchall()[0][0]
drift = abs((now - datetime.now(timezone.utc).replace(tzinfo=None)).total_seconds())
print(drift)
"""
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "TZ": "Europe/Paris"},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.strip()) < 60  # not an hour off
