"""kill -9 of `energy consume` at several moments while it lands: after a restart the warehouse
holds every record exactly once (0 lost, 0 duplicate keys)."""

import signal
import threading
import time

import pytest

from energy_orchestration.streaming.consumer import LandingConsumer
from tests.chaos.support import landed_counts, publish_minutes, start_consumer, wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

RECORDS = 8_000
KILL_AFTER = (1, 4_000)  # landed raw records before each kill -9 (each restart waits out the session timeout)


def test_kill_9_during_landing_loses_and_duplicates_nothing(bootstrap, warehouse, isolated_topics, tmp_path):
    publish_minutes(bootstrap, RECORDS)
    group = f"{isolated_topics}-service"
    settings = {"ENERGY_CONSUMER_BATCH_MAX_MESSAGES": "500", "ENERGY_CONSUMER_BATCH_MAX_SECONDS": "0.2"}
    kills = []
    for threshold in KILL_AFTER:
        service = start_consumer(bootstrap, warehouse, group, isolated_topics, tmp_path / "consumer.log", **settings)
        try:
            wait_for(lambda threshold=threshold: warehouse.path.exists()
                     and landed_counts(warehouse)["raw"] >= threshold, 120,
                     f"{threshold} landed records", interval=0.3)
            service.send_signal(signal.SIGKILL)
            service.wait(10)
            kills.append(landed_counts(warehouse)["raw"])
        finally:
            if service.poll() is None:
                service.kill()
    assert kills[-1] < RECORDS, kills  # every kill hit a consumer with work left
    began = time.monotonic()
    LandingConsumer(bootstrap, warehouse, group, batch_max_messages=5000,
                    batch_max_seconds=0.2).run(threading.Event(), idle_exit_seconds=2)
    assert landed_counts(warehouse) == {"raw": RECORDS, "intervals": RECORDS, "duplicates": 0}
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT count(*) FROM quarantine").fetchall()[0][0] == 0
    assert time.monotonic() - began < 120
