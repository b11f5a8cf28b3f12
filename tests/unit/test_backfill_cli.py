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
    import energy_orchestration.backfill as backfill
    from datetime import datetime, timezone

    monkeypatch.setenv("ENERGY_PARTITIONS_START", "2025-01-01")
    monkeypatch.setattr("energy_orchestration.model.utc_now", lambda: datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc))
    assert main(["backfill", "--from", start, "--to", end, "--dagster-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside the history partitions 2025-01-01 .. 2026-11-30" in err, err
    assert backfill.range_error(datetime(2026, 11, 30).date(), datetime(2026, 11, 30).date(),
                                datetime(2026, 11, 29, 23, 30, tzinfo=timezone.utc)) is None  # 00:30 in Paris
