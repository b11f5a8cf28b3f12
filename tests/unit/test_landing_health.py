"""The landing consumer's health verdicts, as status, /health, freshness and the Dagster check give them."""

from datetime import datetime


def test_landing_health_verdicts_do_not_read_the_clock():
    """describe() judges a health file against the ``now`` it is given (deterministic)."""
    from energy_orchestration.streaming.health import LandingHealth, describe

    now = datetime(2026, 4, 9, 12, 0)
    fresh = LandingHealth(state="landing", updated_utc="2026-04-09T11:59:30")
    assert describe(fresh, now)["ok"]
    silent = describe(LandingHealth(state="landing", pid=7, updated_utc="2026-04-09T11:50:00"), now)
    assert not silent["ok"] and silent["state"] == "silent" and "pid 7" in silent["message"]
    assert describe(LandingHealth(state="stopped", updated_utc="2026-04-01T00:00:00"), now)["ok"]
    stalled = describe(LandingHealth(state="stalled", updated_utc="2026-04-09T11:59:59",
                                     stalled_since_utc="2026-04-09T11:40:00", last_error="IOException: x"), now)
    assert not stalled["ok"]
    assert stalled["message"] == "landing stalled since 2026-04-09T11:40:00 UTC, last error: IOException: x"
    assert describe(LandingHealth(state="landing", updated_utc="garbage"), now)["ok"]
    assert describe(None, now)["state"] == "unknown"
