"""The one staleness rule (warehouse.status.staleness) that /api/v1/freshness reports."""

from datetime import datetime, timedelta

from energy_orchestration.warehouse.status import staleness

NOW = datetime(2025, 3, 1, 12, 0)


def test_a_minute_dataset_is_stale_after_the_configured_wait():
    assert staleness(True, NOW - timedelta(seconds=300), NOW, 1, 300.0) == (False, 300.0)
    assert staleness(True, NOW - timedelta(seconds=301), NOW, 1, 300.0) == (True, 300.0)


def test_a_quarter_hour_dataset_gets_two_of_its_intervals():
    assert staleness(True, NOW - timedelta(minutes=29), NOW, 15, 300.0) == (False, 1800)
    assert staleness(True, NOW - timedelta(minutes=31), NOW, 15, 300.0) == (True, 1800)


def test_never_landed_is_stale_only_when_live():
    assert staleness(True, None, NOW, 1, 300.0)[0] is True
    assert staleness(False, None, NOW, 1, 300.0)[0] is False
    assert staleness(False, NOW - timedelta(days=9), NOW, 1, 300.0)[0] is False
