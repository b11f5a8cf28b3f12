"""Local days in UTC (DST included) and pagination cursors."""

from datetime import date, datetime

import pytest

from energy_orchestration.serving.queries import (
    BadCursor,
    decode_cursor,
    encode_cursor,
    local_day_bounds,
    zone_time_zone,
)


def test_a_local_day_in_utc_follows_daylight_saving_time():
    assert local_day_bounds("DK-DK1", date(2026, 7, 1)) == (datetime(2026, 6, 30, 22), datetime(2026, 7, 1, 22))
    assert local_day_bounds("FR-84", date(2026, 1, 15)) == (datetime(2026, 1, 14, 23), datetime(2026, 1, 15, 23))
    start, end = local_day_bounds("FR", date(2026, 3, 29))          # spring forward: 23 hours
    assert (end - start).total_seconds() == 23 * 3600
    start, end = local_day_bounds("DK", date(2026, 10, 25))         # fall back: 25 hours
    assert (end - start).total_seconds() == 25 * 3600
    assert zone_time_zone("FR-93").key == "Europe/Paris" and zone_time_zone("DK").key == "Europe/Copenhagen"


def test_cursors_round_trip_and_garbage_is_refused():
    row = {"interval_start_utc": "2026-11-23T12:05:00Z", "dataset": "PowerSystemRightNow", "quantity": "consumption"}
    assert decode_cursor(encode_cursor(row)) == (datetime(2026, 11, 23, 12, 5), "PowerSystemRightNow", "consumption")
    for garbage in ("!!", "e30", "WzEsMl0"):
        with pytest.raises(BadCursor):
            decode_cursor(garbage)
