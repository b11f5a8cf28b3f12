"""The hourly revisit: which windows it re-fetches, from the platform clock."""

from datetime import datetime, timedelta, timezone

import dagster as dg

from energy_orchestration.assets.keys import LIVE_DATASETS
from energy_orchestration.ingest import due_end
from energy_orchestration.sensors.revisit import revisit_schedule, revisit_windows

NOW = datetime(2026, 3, 29, 12, 41, tzinfo=timezone.utc)


def test_revisit_covers_the_trailing_hours_of_every_live_dataset_up_to_the_live_fetchs_edge():
    windows = revisit_windows(NOW, 30)
    for dataset in LIVE_DATASETS:
        mine = sorted((w for w in windows if w.dataset == dataset), key=lambda w: w.start)
        end = due_end(dataset, NOW).replace(tzinfo=timezone.utc)
        assert mine[0].start == end - timedelta(hours=30) and mine[-1].end == end
        assert all(a.end == b.start for a, b in zip(mine, mine[1:], strict=False))  # no gap, no overlap
        assert all(w.end - w.start <= timedelta(hours=24) for w in mine)
    assert revisit_windows(NOW, 0) == []


def test_the_schedule_launches_fetch_job_with_those_windows_or_says_it_is_off(monkeypatch):
    monkeypatch.setenv("ENERGY_CLOCK_NOW", NOW.isoformat())
    monkeypatch.setenv("ENERGY_REVISIT_HOURS", "6")
    request = revisit_schedule(dg.build_schedule_context())
    configured = request.run_config["ops"]["fetch_and_publish_windows"]["config"]["windows"]
    assert [(w["dataset"], w["start"], w["end"]) for w in configured] == [
        (w.dataset, w.start.isoformat(), w.end.isoformat()) for w in revisit_windows(NOW, 6)]
    assert request.tags["energy/kind"] == "revisit"
    monkeypatch.setenv("ENERGY_REVISIT_HOURS", "0")
    assert isinstance(revisit_schedule(dg.build_schedule_context()), dg.SkipReason)
