"""Explain a number, on a real DuckDB file filled by the real consumer from recorded provider
records (tests/fixtures): an hour with a refused value and a revised one is explained as built."""

import copy
import json
import threading
from datetime import date, datetime
from pathlib import Path

import pytest

from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.streaming.consumer import LandingConsumer
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import raw_topic
from energy_orchestration.warehouse.aggregates import build_zone_hourly, build_zone_periods
from energy_orchestration.warehouse.explain import UnknownCell, cell_range, explain_cell

pytestmark = pytest.mark.integration

RECORDED = json.loads((Path(__file__).parents[1] / "fixtures" / "eds_PowerSystemRightNow_2026-04-08.json")
                      .read_text())["records"]  # 21:29 and 21:30 UTC, real values
HOUR = datetime(2026, 4, 8, 21, 0)


def publish(bootstrap: str, records: list[dict]) -> None:
    publish_records(bootstrap, raw_topic("PowerSystemRightNow"), "energidataservice", "PowerSystemRightNow",
                    records, POWER_SYSTEM_RIGHT_NOW.message_zone, datetime(2026, 4, 8, 21, 31))


def land(bootstrap: str, warehouse, group: str) -> None:
    LandingConsumer(bootstrap, warehouse, group, batch_max_messages=5000,
                    batch_max_seconds=0.5).run(threading.Event(), idle_exit_seconds=2.0)


@pytest.fixture
def explained_hour(bootstrap, warehouse, isolated_topics):
    """The two recorded minutes landed; then 21:29 revised (onshore wind +10 MW) and a 21:28
    minute whose solar value is negative (refused), landed; the hour and its day built."""
    publish(bootstrap, RECORDED)
    land(bootstrap, warehouse, f"{isolated_topics}-landing")
    revised = copy.deepcopy(next(r for r in RECORDED if r["Minutes1UTC"].endswith("21:29:00")))
    old_onshore = revised["OnshoreWindPower"]
    revised["OnshoreWindPower"] = old_onshore + 10
    bad = dict(copy.deepcopy(revised), Minutes1UTC="2026-04-08T21:28:00", Minutes1DK="2026-04-08T23:28:00",
               SolarPower=-50.0, OnshoreWindPower=old_onshore)
    publish(bootstrap, [revised, bad])
    land(bootstrap, warehouse, f"{isolated_topics}-landing")
    with warehouse.transaction() as db:
        build_zone_hourly(db, HOUR, datetime(2026, 4, 8, 22), run_id="run-1234")
        build_zone_periods(db, "daily", date(2026, 4, 8), date(2026, 4, 8))
    return warehouse, old_onshore


def test_an_hour_with_a_refused_value_and_a_revision_is_explained(explained_hour):
    warehouse, old_onshore = explained_hour
    with warehouse.connect(read_only=True) as db:
        got = explain_cell(db, "DK", "hourly", HOUR)
    assert got["row"]["production_wind_onshore"] == pytest.approx(
        (old_onshore + (old_onshore + 10) + RECORDED[0]["OnshoreWindPower"]) / 3)
    assert got["built"]["built_by_run_id"] == "run-1234" and got["built"]["landed_after_build"] is False
    fields = {f["quantity"]: f for f in got["fields"]}
    assert fields["production_wind_onshore"]["datasets"] == [
        {"dataset": "PowerSystemRightNow", "hours": 1, "interval_minutes": 1}]
    assert (fields["production_wind_onshore"]["intervals_present"],
            fields["production_wind_onshore"]["intervals_expected"]) == (3, 60)
    assert fields["production_solar"]["intervals_present"] == 2  # 21:28 was refused
    [refused] = got["refused"]["items"]
    assert (refused["quantity"], refused["interval_start_utc"], refused["dataset"]) == (
        "production_solar", datetime(2026, 4, 8, 21, 28), "PowerSystemRightNow")
    assert refused["reason"] and got["refused"]["total"] == 1
    [revision] = got["revisions"]["items"]
    assert (revision["quantity"], revision["interval_start_utc"], revision["value"], revision["current_value"]) == (
        "production_wind_onshore", datetime(2026, 4, 8, 21, 29), old_onshore, pytest.approx(old_onshore + 10))
    assert revision["valid_to_utc"] == revision["current_since_utc"]


def test_the_day_holding_the_hour_is_explained_with_the_same_inputs(explained_hour):
    warehouse, _ = explained_hour
    with warehouse.connect(read_only=True) as db:
        day = explain_cell(db, "DK", "daily", date(2026, 4, 8))
        missing = explain_cell(db, "DK", "daily", date(2026, 4, 7))
    assert day["row"]["hours_present"] == 1 and day["built"]["built_by_run_id"] is None
    assert (day["refused"]["total"], day["revisions"]["total"]) == (1, 1)
    assert {f["quantity"]: f["intervals_expected"] for f in day["fields"]}["production_solar"] == 24 * 60
    assert missing["row"] is None and missing["fields"] == [] and missing["built"]["built_at_utc"] is None


def test_periods_must_name_a_cell():
    with pytest.raises(UnknownCell):
        cell_range("DK", "hourly", datetime(2026, 4, 8, 21, 30))
    with pytest.raises(UnknownCell):
        cell_range("DK", "weekly", date(2026, 4, 8))  # a Wednesday
    assert cell_range("FR", "monthly", date(2026, 3, 1)) == (datetime(2026, 2, 28, 23), datetime(2026, 3, 31, 22))


def test_the_api_and_the_cli_explain_the_same_cell(explained_hour):
    import os
    import subprocess
    import sys

    import requests

    from .serving_support import start_api

    warehouse, old_onshore = explained_hour
    server = start_api(warehouse, None)
    try:
        url = f"{server.url}/api/v1/zones/DK/aggregates"
        answer = requests.get(f"{url}/hourly/2026-04-08T23:00:00+02:00/explain", timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["built"]["built_by_run_id"] == "run-1234" and body["from_utc"] == "2026-04-08T21:00:00Z"
        assert body["revisions"]["items"][0]["value"] == old_onshore
        assert body["refused"]["items"][0]["interval_start_utc"] == "2026-04-08T21:28:00Z"
        for bad in ("hourly/2026-04-08T21:30:00Z", "hourly/yesterday", "weekly/2026-04-08", "daily/1900-01-01"):
            problem = requests.get(f"{url}/{bad}/explain", timeout=10)
            assert problem.status_code == 400 and problem.headers["content-type"] == "application/problem+json", bad
    finally:
        server.__exit__(None, None, None)

    env = {**os.environ, "ENERGY_WAREHOUSE_PATH": str(warehouse.path)}
    done = subprocess.run([sys.executable, "-m", "energy_orchestration.cli", "explain", "--zone", "DK",
                           "--grain", "hourly", "--period", "2026-04-08T21:00Z"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "by run run-1234" in done.stdout and "refused values: 1" in done.stdout and "revisions: 1" in done.stdout
    assert f"production_wind_onshore PowerSystemRightNow: {old_onshore} (realtime" in done.stdout
    as_json = subprocess.run([sys.executable, "-m", "energy_orchestration.cli", "explain", "--zone", "DK",
                              "--grain", "daily", "--period", "2026-04-08", "--json"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["revisions"]["items"][0]["valid_to_utc"].endswith("Z")
    wrong = subprocess.run([sys.executable, "-m", "energy_orchestration.cli", "explain", "--zone", "DK",
                            "--grain", "weekly", "--period", "2026-04-08"], env=env, capture_output=True, text=True,
                           timeout=120)
    assert wrong.returncode == 2 and "Monday" in wrong.stderr
