"""`energy status` and `energy query` as a user runs them (real processes, real DuckDB files):
reading never writes, a mistake is one line and exit 2, never a traceback."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(any_warehouse):
    """Every test here runs on both backends: the DuckDB file and DuckLake (tests/warehouse_backends.py)."""
    return any_warehouse


def energy(*argv: str, warehouse: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, "ENERGY_WAREHOUSE_PATH": str(warehouse), **env}
    return subprocess.run([sys.executable, "-m", "energy_orchestration.cli", *argv], env=environ,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("argv", [["status"], ["query", "SELECT 1"]], ids=["status", "query"])
def test_reading_a_missing_warehouse_is_an_error_naming_the_path_and_creates_nothing(tmp_path, argv):
    missing = tmp_path / "typo" / "warehouse.duckdb"
    done = energy(*argv, warehouse=missing)
    assert done.returncode == 2, done
    assert done.stderr.strip().splitlines() == [
        f"energy {argv[0]}: no warehouse at {missing} (check ENERGY_WAREHOUSE_PATH / ENERGY_STATE_DIR; "
        "the landing consumer or `energy demo` creates it)"]
    assert not missing.parent.exists()


@pytest.fixture
def landed(warehouse):
    """A warehouse with two logged batches (3 + 3 messages) of one dataset."""
    with warehouse.transaction() as db:
        for batch in ("b1", "b2"):
            db.execute("""INSERT INTO ingest_log (batch_id, dataset, consumer_group, landed_at_utc, messages,
                                                  observations, quarantined, dead_lettered, lag)
                          VALUES (?, 'CO2Emis', 'g', TIMESTAMP '2025-06-01 12:00:00', 3, 6, 0, 0, '{"t/0": 2}')""",
                       [batch])
    return warehouse


def test_status_prints_counts_as_integers(landed):
    done = energy("status", warehouse=landed.path, ENERGY_CLOCK_NOW="2025-06-01T12:30:00Z")
    assert done.returncode == 0, done.stderr
    [row] = [line for line in done.stdout.splitlines() if line.startswith("| CO2Emis | 2 |")]
    assert row.split(" | ")[2] == "6"  # messages: 3 + 3, not 6.0
    [fresh] = [line for line in done.stdout.splitlines() if line.startswith("| CO2Emis | ")
               and "2025-06-01 12:00:00 | 2 |" in line]
    assert fresh.rstrip(" |").endswith("| 2")  # consumer lag, an integer


@pytest.mark.parametrize("sql", [
    "COPY (SELECT 1) TO '{out}'",
    "INSERT INTO ingest_log SELECT * FROM ingest_log",
    "ATTACH '{out}' AS other",
    "INSTALL httpfs",
    "SELECT * FROM read_csv('{out}')",
    "SET enable_external_access = true",
])
def test_query_refuses_anything_but_reading_the_warehouse(landed, tmp_path, sql):
    out = tmp_path / "written.csv"
    before = state_of(landed)
    done = energy("query", sql.format(out=out), warehouse=landed.path)
    assert done.returncode == 2, done
    assert done.stderr.startswith("energy query: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and state_of(landed) == before


def state_of(warehouse) -> object:
    """What changes with any write: the file's bytes, or DuckLake's newest snapshot."""
    from energy_orchestration.warehouse.lake import DuckLakeWarehouse

    if isinstance(warehouse, DuckLakeWarehouse):
        with warehouse.connect(read_only=True) as db:
            return db.execute("SELECT max(snapshot_id), count(*) FROM ducklake_snapshots('lake')").fetchall()
    return warehouse.path.read_bytes()


def test_query_runtime_errors_are_one_line(landed):
    done = energy("query", "SELECT 'x'::INTEGER", warehouse=landed.path)
    assert done.returncode == 2
    assert done.stderr.startswith("energy query: Conversion Error") and len(done.stderr.strip().splitlines()) == 1


def test_query_reads(landed):
    done = energy("query", "SELECT sum(messages) AS m FROM ingest_log", "--max-rows", "5", warehouse=landed.path)
    assert done.returncode == 0, done.stderr
    assert re.search(r"│\s+6 │", done.stdout), done.stdout
