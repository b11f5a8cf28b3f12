"""`energy backfill` refuses bad parameters before it contacts Dagster, with exit code 2."""

import pytest

from energy_orchestration.backfill import bar, days_between
from energy_orchestration.cli import main


@pytest.mark.parametrize("argv, message", [
    (["--from", "2025-13-01", "--to", "2025-01-02"], "dates must be YYYY-MM-DD"),
    (["--from", "2025-02-01", "--to", "2025-01-02"], "is before --from"),
    (["--from", "2025-01-01", "--to", "2025-01-02", "--datasets", "Nope"], "unknown datasets ['Nope']"),
])
def test_bad_parameters_are_refused_with_a_reason(argv, message, capsys):
    assert main(["backfill", *argv, "--dagster-url", "http://127.0.0.1:9"]) == 2
    assert message in capsys.readouterr().err


def test_days_and_progress_bar():
    from datetime import date

    assert days_between(date(2025, 3, 29), date(2025, 3, 31)) == ["2025-03-29", "2025-03-30", "2025-03-31"]
    assert bar("days aggregated", 15, 30, "x", width=10) == "days aggregated        [#####.....] 15/30 x"


@pytest.mark.parametrize("start, end", [("2024-06-01", "2024-06-02"), ("2030-01-01", "2030-01-03"),
                                        ("2026-11-29", "2026-12-01")])
def test_days_outside_the_partitions_are_refused_before_anything_is_launched(start, end, capsys, monkeypatch):
    """No Dagster listens on port 9: reaching it would print "cannot reach Dagster", not this line."""
    from datetime import datetime, timezone

    import energy_orchestration.backfill as backfill

    monkeypatch.setenv("ENERGY_PARTITIONS_START", "2025-01-01")
    monkeypatch.setattr("energy_orchestration.model.utc_now", lambda: datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc))
    assert main(["backfill", "--from", start, "--to", end, "--dagster-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside the history partitions 2025-01-01 .. 2026-11-30" in err, err
    assert backfill.range_error(datetime(2026, 11, 30).date(), datetime(2026, 11, 30).date(),
                                datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)) is None  # 00:30 in Paris


# --- the closing per-dataset table -------------------------------------------------------------

COMPANIONS = {"eco2mix-national-tr": "eco2mix-national-cons-def"}


def test_summary_counts_empty_days_and_forgives_only_what_a_companion_holds():
    from datetime import date

    from energy_orchestration.backfill import summarise, summary_table

    d1, d2, d3 = date(2025, 1, 6), date(2025, 1, 7), date(2025, 1, 8)
    landed = {("CO2Emis", d1): 576, ("CO2Emis", d2): 576, ("CO2Emis", d3): 576,
              ("eco2mix-national-cons-def", d1): 48, ("eco2mix-national-cons-def", d2): 48,
              ("PowerSystemRightNow", d1): 1440}
    rows = summarise(landed, ["CO2Emis", "PowerSystemRightNow", "eco2mix-national-tr", "eco2mix-national-cons-def"],
                     [d1, d2, d3], COMPANIONS, {"CO2Emis": 0, "PowerSystemRightNow": 0})
    by = {r.dataset: r for r in rows}
    assert (by["CO2Emis"].records, by["CO2Emis"].empty_days, by["CO2Emis"].ok) == (1728, [], True)
    assert by["PowerSystemRightNow"].uncovered_days == [d2, d3] and not by["PowerSystemRightNow"].ok
    assert by["eco2mix-national-tr"].empty_days == [d1, d2, d3] and by["eco2mix-national-tr"].uncovered_days == [d3]
    assert by["eco2mix-national-cons-def"].uncovered_days == [d3]  # neither French national set has 2025-01-08
    table = summary_table(rows, COMPANIONS).splitlines()
    assert table[0].split() == ["dataset", "days", "records", "landed", "days", "empty", "note"]
    assert table[1].split() == ["CO2Emis", "3", "1728", "0", "ok"]
    assert "EMPTY: no data for 2 days (2025-01-07, 2025-01-08)" in table[2]
    failed = summarise(landed, ["CO2Emis"], [d1], COMPANIONS, {"CO2Emis": 1})[0]
    assert not failed.ok and "FAILED: 1 partitions failed" in summary_table([failed], COMPANIONS)


class _FakeDagster:
    """Dagster's GraphQL answers for one backfill, over a real socket (launch, then finished)."""

    def __init__(self, failed_asset: str | None = None):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from energy_orchestration.assets.history import HISTORY_DATASETS, history_asset_key

        statuses = [{"assetKey": {"path": list(history_asset_key(d).path)}, "numPartitionsTargeted": 2,
                     "numPartitionsInProgress": 0,
                     "numPartitionsMaterialized": 0 if "/".join(history_asset_key(d).path) == failed_asset else 2,
                     "numPartitionsFailed": 2 if "/".join(history_asset_key(d).path) == failed_asset else 0}
                    for d in HISTORY_DATASETS]
        status = "COMPLETED_FAILED" if failed_asset else "COMPLETED_SUCCESS"

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if "launchPartitionBackfill" in body["query"]:
                    data = {"launchPartitionBackfill": {"__typename": "LaunchBackfillSuccess", "backfillId": "abc"}}
                else:
                    data = {"partitionBackfillOrError": {"__typename": "PartitionBackfill", "status": status,
                                                         "assetBackfillData": {"assetBackfillStatuses": statuses}}}
                answer = json.dumps({"data": data}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def _warehouse_with(tmp_path, monkeypatch, datasets_days):
    """A real DuckDB file holding landed records for some (dataset, local day) and built days."""
    from datetime import datetime, timedelta

    from energy_orchestration.warehouse import Warehouse

    path = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("ENERGY_WAREHOUSE_PATH", str(path))
    monkeypatch.setenv("ENERGY_PARTITIONS_START", "2025-01-01")
    with Warehouse(path).transaction() as db:
        for dataset, day, count in datasets_days:
            start = datetime.fromisoformat(day) - timedelta(hours=1)  # local midnight in winter, UTC
            for n in range(count):
                db.execute("INSERT INTO raw_records (dataset, record_key, interval_start_utc, payload, landed_at_utc) "
                           "VALUES (?, ?, ?, '{}', ?)", [dataset, f"{day}-{n}", start + timedelta(minutes=30 * n),
                                                        datetime(2100, 1, 1)])
        for day in sorted({day for _, day, _ in datasets_days}):
            db.execute("INSERT INTO zone_daily BY NAME SELECT 'DK' AS zone, ?::DATE AS local_date, "
                       "'Europe/Copenhagen' AS time_zone, ?::TIMESTAMP AS period_start_utc, "
                       "?::TIMESTAMP AS period_end_utc, 24 AS hours_expected, 24 AS hours_present, "
                       "100.0 AS coverage_pct, TIMESTAMP '2100-01-01' AS built_at_utc",
                       [day, datetime.fromisoformat(day), datetime.fromisoformat(day)])


def _every_dataset(day, count=3):
    from energy_orchestration.assets.history import HISTORY_COMPANIONS, HISTORY_DATASETS

    return [(d, day, count) for d in HISTORY_DATASETS if d not in HISTORY_COMPANIONS]  # only consolidated FR


def test_cli_prints_the_table_and_exits_0_when_every_dataset_day_landed(tmp_path, monkeypatch, capsys):
    _warehouse_with(tmp_path, monkeypatch, _every_dataset("2025-01-06") + _every_dataset("2025-01-07"))
    dagster = _FakeDagster()
    try:
        code = main(["backfill", "--from", "2025-01-06", "--to", "2025-01-07", "--dagster-url", dagster.url])
    finally:
        dagster.close()
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "CO2Emis" in out and "eco2mix-national-tr" in out
    national_tr = next(line for line in out.splitlines() if line.startswith("eco2mix-national-tr "))
    assert national_tr.split()[1:4] == ["2", "0", "2"] and "eco2mix-national-cons-def holds" in national_tr


def test_cli_exits_1_when_a_dataset_day_stayed_empty_or_a_partition_failed(tmp_path, monkeypatch, capsys):
    landed = [row for row in _every_dataset("2025-01-06") + _every_dataset("2025-01-07")
              if not (row[0] == "eco2mix-national-cons-def" and row[1] == "2025-01-07")]
    _warehouse_with(tmp_path, monkeypatch, landed)
    dagster = _FakeDagster(failed_asset="history/co2emis")
    try:
        code = main(["backfill", "--from", "2025-01-06", "--to", "2025-01-07", "--dagster-url", dagster.url])
    finally:
        dagster.close()
    out, err = capsys.readouterr()
    assert code == 1
    lines = {line.split()[0]: line for line in out.splitlines()[1:] if line.strip() and not line.startswith("backfill")
             and "[" not in line}
    assert "FAILED: 2 partitions failed" in lines["CO2Emis"]
    assert "EMPTY: no data for 1 days (2025-01-07)" in lines["eco2mix-national-cons-def"]
    assert "incomplete: CO2Emis" in err and "eco2mix-national-cons-def" in err
