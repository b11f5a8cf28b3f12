"""Pure helpers behind the sensors: partition ranges, UTC hours -> local days -> weeks/months,
missing intervals -> re-fetch windows."""

from datetime import datetime, timezone

import pandas as pd

from energy_orchestration.assets.history import request_windows
from energy_orchestration.assets.partitions import DAILY, HOURLY, MONTHLY, WEEKLY, hour_key, hour_start_utc
from energy_orchestration.sensors.landing import contiguous_ranges, local_days_of_hours, periods_of_days
from energy_orchestration.warehouse.completeness import missing_windows

NOW = datetime(2026, 11, 23, 12, tzinfo=timezone.utc)


def test_neighbouring_partitions_become_one_range_and_gaps_split_them():
    keys = ["2025-02-03", "2025-02-01", "2025-02-02", "2025-02-05"]
    assert contiguous_ranges(keys, DAILY) == [("2025-02-01", "2025-02-03"), ("2025-02-05", "2025-02-05")]


def test_hour_keys_are_local_and_survive_the_autumn_dst_hour():
    first, second = datetime(2025, 10, 26, 0), datetime(2025, 10, 26, 1)  # both 02:00 in Paris
    assert (hour_key(first), hour_key(second)) == ("2025-10-26-02:00", "2025-10-26-02:00+0100")
    assert hour_start_utc(hour_key(second)) == second
    assert contiguous_ranges([hour_key(first), hour_key(second)], HOURLY) == [
        ("2025-10-26-02:00", "2025-10-26-02:00+0100")]


def test_utc_hours_map_to_the_local_days_they_fall_in():
    late_evening_utc = hour_key(datetime(2025, 3, 29, 23))  # 00:00 on the 30th in Paris/Copenhagen
    assert local_days_of_hours([late_evening_utc, hour_key(datetime(2025, 3, 29, 12))]) == {"2025-03-29", "2025-03-30"}


def test_days_map_to_their_monday_week_and_month():
    days = ["2025-03-30", "2025-03-31"]  # a Sunday and the Monday after
    assert periods_of_days(days, WEEKLY, NOW) == {"2025-03-24", "2025-03-31"}
    assert periods_of_days(days, MONTHLY, NOW) == {"2025-03-01"}


def test_missing_intervals_merge_into_windows_and_refused_ones_are_left_alone():
    rows = [("PowerSystemRightNow", 1, datetime(2025, 1, 1, 10, m), False) for m in (0, 1, 2, 7)]
    rows += [("PowerSystemRightNow", 1, datetime(2025, 1, 1, 10, 30), True)]  # in quarantine: explained
    rows += [("CO2Emis", 5, datetime(2025, 1, 1, 10, 0), False), ("CO2Emis", 5, datetime(2025, 1, 1, 10, 5), False)]
    missing = pd.DataFrame(rows, columns=["dataset", "step", "interval_start_utc", "explained"])
    found = [(w.dataset, w.start_utc.strftime("%H:%M"), w.end_utc.strftime("%H:%M"), w.intervals)
             for w in missing_windows(missing)]
    assert found == [("CO2Emis", "10:00", "10:10", 2),
                     ("PowerSystemRightNow", "10:00", "10:03", 3), ("PowerSystemRightNow", "10:07", "10:08", 1)]


def test_history_asks_for_big_windows():
    windows = request_windows("PowerSystemRightNow", datetime(2025, 1, 1), datetime(2025, 4, 1))
    assert [(w.start.date().isoformat(), w.end.date().isoformat()) for w in windows] == [
        ("2025-01-01", "2025-02-01"), ("2025-02-01", "2025-03-04"), ("2025-03-04", "2025-04-01")]
