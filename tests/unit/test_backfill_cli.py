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
