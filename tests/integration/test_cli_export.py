"""`energy export` and `energy query --format` as a user runs them (real processes, a real DuckDB
file of generated observations and the aggregates built from them): the files hold what the API
answers, mistakes are one line and a non-zero exit, an empty result says "0 rows"."""

import csv
import io
import json
from datetime import date, datetime

import duckdb
import pytest

from energy_orchestration.serving import queries
from energy_orchestration.warehouse import Warehouse
from tests.integration.serving_support import build_aggregates, generated_observations
from tests.integration.test_cli_reading import energy

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> Warehouse:
    warehouse = Warehouse(tmp_path_factory.mktemp("cli-export") / "warehouse.duckdb", lock_timeout_seconds=30)
    generated_observations(warehouse, "FR-84", datetime(2025, 10, 24), 4)  # across the autumn DST change
    build_aggregates(warehouse)
    return warehouse


def read_parquet(path) -> list[dict]:
    with duckdb.connect() as db:
        db.execute("SET TimeZone = 'UTC'")
        cursor = db.execute("SELECT * FROM read_parquet(?)", [str(path)])
        names = [d[0] for d in cursor.description]
        return [{n: queries.jsonable(v) for n, v in zip(names, row, strict=True)} for row in cursor.fetchall()]


def test_export_hourly_parquet_holds_the_apis_json_rows(filled, tmp_path):
    out = tmp_path / "hourly.parquet"
    done = energy("export", "--zone", "FR-84", "--from", "2025-10-25", "--to", "2025-10-26", "--grain", "hourly",
                  "--format", "parquet", "-o", str(out), warehouse=filled.path)
    assert done.returncode == 0, done.stderr
    expected = queries.aggregate_page(filled, "hourly", "FR-84", date(2025, 10, 25), date(2025, 10, 26), 10_000).items
    assert len(expected) == 24 + 25  # Paris falls back on the 26th: a 25-hour local day
    assert read_parquet(out) == expected
    assert "49 rows, 0.0" in done.stderr and str(out) in done.stderr
    assert not list(tmp_path.glob(".*partial*"))


def test_export_minute_csv_to_stdout_is_the_local_days_observations(filled):
    done = energy("export", "--zone", "FR-84", "--from", "2025-10-26", "--to", "2025-10-26", "--grain", "minute",
                  "-o", "-", warehouse=filled.path)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    start, end = queries.local_day_bounds("FR-84", date(2025, 10, 26))
    expected = queries.range_page(filled, "FR-84", start, end, 10_000).items
    assert len(rows) == len(expected) == 25 * 12 * 3
    assert rows[0] == {k: str(v) for k, v in expected[0].items()}
    assert rows[-1]["interval_start_utc"] == expected[-1]["interval_start_utc"] == "2025-10-26T22:55:00Z"
    assert "900 rows" in done.stderr and "stdout" in done.stderr


@pytest.mark.parametrize("zone, first, last, grain, fmt, says", [
    ("XX", "2025-10-25", "2025-10-26", "daily", "csv", "unknown zone 'XX'; known: DK"),
    ("FR-84", "2025-10-27", "2025-10-26", "daily", "csv", "--from 2025-10-27 is after --to 2025-10-26"),
    ("FR-84", "2025-10-25", "26/10/2025", "daily", "csv", "YYYY-MM-DD"),
    ("FR-84", "2025-10-25", "2025-10-26", "yearly", "csv", "invalid choice: 'yearly'"),
    ("FR-84", "2025-10-25", "2025-10-26", "daily", "parquet", "parquet needs -o FILE"),
], ids=["zone", "from-after-to", "date", "grain", "parquet-stdout"])
def test_export_refuses_bad_parameters_in_one_line_and_writes_nothing(filled, zone, first, last, grain, fmt, says):
    done = energy("export", "--zone", zone, "--from", first, "--to", last, "--grain", grain, "--format", fmt, "-o", "-",
                  warehouse=filled.path)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_an_empty_export_says_0_rows_and_exits_1(filled, tmp_path):
    out = tmp_path / "empty.csv"
    done = energy("export", "--zone", "DK-DK1", "--from", "2025-10-25", "--to", "2025-10-26", "--grain", "daily",
                  "-o", str(out), warehouse=filled.path)
    assert done.returncode == 1
    assert "0 rows: zone_daily holds nothing for DK-DK1 between 2025-10-25 and 2025-10-26" in done.stderr
    assert out.read_text().startswith("zone,local_date,") and len(out.read_text().splitlines()) == 1


SQL = "SELECT zone, local_date, consumption FROM zone_daily ORDER BY local_date"


def test_query_formats(filled, tmp_path):
    with filled.connect(read_only=True) as db:
        expected = db.execute(SQL).fetchall()
    assert len(expected) >= 4
    as_csv = energy("query", SQL, "--format", "csv", warehouse=filled.path)
    assert as_csv.returncode == 0, as_csv.stderr
    assert [(r["zone"], r["local_date"], float(r["consumption"])) for r in csv.DictReader(io.StringIO(as_csv.stdout))] \
        == [(z, d.isoformat(), c) for z, d, c in expected]
    out = tmp_path / "q.json"
    as_json = energy("query", SQL, "--format", "json", "-o", str(out), warehouse=filled.path)
    assert as_json.returncode == 0 and as_json.stdout == "" and f"{len(expected)} rows" in as_json.stderr
    assert json.loads(out.read_text()) == [{"zone": z, "local_date": d.isoformat(), "consumption": c}
                                           for z, d, c in expected]
    out = tmp_path / "q.parquet"
    assert energy("query", SQL, "--format", "parquet", "-o", str(out), warehouse=filled.path).returncode == 0
    assert read_parquet(out) == [{"zone": z, "local_date": d.isoformat(), "consumption": c} for z, d, c in expected]


@pytest.mark.parametrize("argv, says", [
    (["--format", "parquet"], "parquet needs -o FILE"),
    (["-o", "x.csv"], "-o needs --format"),
    (["--format", "xml"], "invalid choice: 'xml'"),
])
def test_query_refuses_format_mistakes(filled, argv, says):
    done = energy("query", SQL, *argv, warehouse=filled.path)
    assert done.returncode == 2 and says in done.stderr, done.stderr
