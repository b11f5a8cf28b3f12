"""Provider faults (50 % HTTP 500, then a 503 outage, then recovery) on the live fetch path:
failed windows are not acknowledged, the next windows cover them, and once the provider
recovers every minute of the span is landed exactly once."""

from datetime import timedelta

import pytest
import requests

from energy_orchestration.ingest import WindowPolicy, fetch_and_publish, floor_to, plan_window
from energy_orchestration.model import utc_now
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.sources.http import PoliteSession, RetryPolicy, SourceError
from energy_orchestration.standin import FaultConfig, StandinConfig, StandinServer
from tests.chaos.support import landed_counts

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

DATASET = "PowerSystemRightNow"


def _no_sleep(_seconds: float) -> None:
    pass


def test_provider_faults_heal_without_gaps(bootstrap, warehouse, land_all):
    now = floor_to(utc_now(), timedelta(minutes=1))  # fixed for the test: the sensor's clock
    start = now - timedelta(hours=3)
    policy = WindowPolicy(max_window=timedelta(minutes=20))
    faults = FaultConfig(error_rate=0.5, error_status=500, seed=7)
    failures = 0
    with StandinServer(StandinConfig(rate_limit_per_minute=0, faults=faults)) as standin:
        client = EnergiDataServiceClient(standin.url, http=PoliteSession(
            retry=RetryPolicy(max_attempts=2), sleep=_no_sleep))
        acked = start
        for tick in range(40):  # sensor ticks; each fetches the next due window (or fails)
            if tick == 10:  # an outage: every request 503
                requests.post(f"{standin.url}/_standin/faults", json={"error_rate": 0, "fail_for_seconds": 3600},
                              timeout=5).raise_for_status()
            if tick == 16:  # the provider recovers
                requests.delete(f"{standin.url}/_standin/faults", timeout=5).raise_for_status()
            window = plan_window(DATASET, now, acked, policy)
            if window is None:
                break
            try:
                outcome = fetch_and_publish(client, bootstrap, window, warehouse)
            except SourceError:
                failures += 1
                continue
            acked = outcome.acked_until or acked
    assert failures >= 6  # the faults really hit
    assert acked == now
    land_all()
    minutes = int((now - start) / timedelta(minutes=1)) + 5  # the first window starts an overlap earlier
    with warehouse.connect(read_only=True) as db:
        present = db.execute("""SELECT count(DISTINCT interval_start_utc) FROM observations
                                WHERE interval_start_utc >= ? AND interval_start_utc < ?""",
                             [(start - timedelta(minutes=5)).replace(tzinfo=None),
                              now.replace(tzinfo=None)]).fetchall()[0][0]
    assert present == minutes
    assert landed_counts(warehouse)["duplicates"] == 0
