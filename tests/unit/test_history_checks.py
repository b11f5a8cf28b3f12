"""history_nonempty: an empty history day is not green; WARN only where the provider rightly has nothing."""

from datetime import date, datetime, timedelta, timezone

import dagster as dg

from energy_orchestration.assets.history import (
    day_window_utc,
    empty_day_expected,
    expected_records,
    nonempty_check,
    records_per_interval,
    tally_days,
)

TODAY = date(2026, 11, 30)
FAR = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_rows_expected_per_day_follow_the_step_the_zones_and_dst():
    assert records_per_interval("eco2mix-regional-cons-def") == 12 and records_per_interval("eco2mix-national-tr") == 1
    assert records_per_interval("CO2Emis") == 2 and records_per_interval("PowerSystemRightNow") == 1
    assert expected_records("CO2Emis", date(2025, 1, 6), FAR) == 288 * 2
    assert expected_records("eco2mix-national-cons-def", date(2025, 3, 30), FAR) == 46    # 23-hour day
    assert expected_records("PowerSystemRightNow", date(2025, 10, 26), FAR) == 25 * 60   # 25-hour day
    start, _ = day_window_utc(date(2026, 11, 30))
    assert expected_records("PowerSystemRightNow", date(2026, 11, 30), start + timedelta(hours=2)) == 120


def test_why_an_empty_day_may_be_fine():
    assert empty_day_expected("eco2mix-national-cons-def", date(2011, 6, 1), TODAY).startswith("before")
    assert "real-time window" in empty_day_expected("eco2mix-national-tr", date(2025, 1, 6), TODAY)
    assert empty_day_expected("eco2mix-national-tr", date(2026, 11, 20), TODAY) is None
    assert "not be consolidated" in empty_day_expected("eco2mix-regional-cons-def", date(2026, 11, 1), TODAY)
    assert empty_day_expected("eco2mix-regional-cons-def", date(2025, 1, 6), TODAY) is None
    assert empty_day_expected("CO2Emis", date(2025, 1, 6), TODAY) is None


def test_the_check_names_dataset_days_and_rows_and_is_an_error_where_data_should_be():
    days = [date(2026, 11, 20), date(2026, 11, 21)]
    empty_recent = nonempty_check("eco2mix-national-tr", tally_days(
        "eco2mix-national-tr", days, {date(2026, 11, 20): 96}, TODAY, FAR))
    assert not empty_recent.passed and empty_recent.severity == dg.AssetCheckSeverity.ERROR
    assert empty_recent.metadata["days_empty"].value == 1 and empty_recent.metadata["rows_fetched"].value == 96
    assert "| 2026-11-21 | 96 | 0 | **should have data** |" in empty_recent.metadata["empty_days"].value
    assert "eco2mix-national-tr: 1 of 2 days came back empty" in empty_recent.description

    old = [date(2025, 1, 6)]
    rightly_empty = nonempty_check("eco2mix-national-tr", tally_days("eco2mix-national-tr", old, {}, TODAY, FAR))
    assert not rightly_empty.passed and rightly_empty.severity == dg.AssetCheckSeverity.WARN

    whole = nonempty_check("CO2Emis", tally_days("CO2Emis", old, {date(2025, 1, 6): 576}, TODAY, FAR))
    assert whole.passed and whole.metadata["rows_expected"].value == 576
