"""The API's live cache heals like the consumer: the real embedded broker is stopped (it keeps
topics in memory, so they come back empty) and restarted on the same port while the real
server runs; /health says "reconnecting" meanwhile, the first new record is served within a
minute, and the outage does not flood the log."""

import logging
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from energy_orchestration.streaming.broker import EmbeddedBroker, free_port
from energy_orchestration.streaming.topics import all_topics, ensure_topics
from tests.integration.serving_support import produce_psrn_minute, start_api

pytestmark = pytest.mark.integration

MINUTE = datetime(2026, 11, 2, 10, 0, tzinfo=timezone.utc)


def served_minutes(server) -> set[str]:
    values = requests.get(f"{server.url}/api/v1/zones/DK-DK1/latest", timeout=10).json()["values"]
    return {v["interval_start_utc"] for v in values if v["dataset"] == "PowerSystemRightNow"}


def wait_until(what: str, condition, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def test_the_api_cache_resumes_after_the_broker_restarts(tmp_path, warehouse, caplog):
    caplog.set_level(logging.INFO)
    broker = EmbeddedBroker(port=free_port(), log_file=tmp_path / "broker.log").start()
    server = None
    try:
        bootstrap = broker.bootstrap_servers
        ensure_topics(bootstrap, all_topics(["PowerSystemRightNow"]))
        produce_psrn_minute(bootstrap, MINUTE)
        server = start_api(warehouse, bootstrap)
        wait_until("the first minute served",
                   lambda: any(m.startswith("2026-11-02T10:00") for m in served_minutes(server)), 30)

        broker.stop()
        health = wait_until("/health saying reconnecting", lambda: (lambda h: h if h["cache_state"] == "reconnecting"
                            else None)(requests.get(f"{server.url}/health", timeout=5).json()), 60)
        assert health["cache_caught_up"] is False and health["cache_last_error"]
        time.sleep(10)  # an outage long enough for librdkafka to repeat itself many times

        broker.start()  # same port, empty: the topics are gone
        ensure_topics(bootstrap, all_topics(["PowerSystemRightNow"]))  # as the next fetch run does
        produced = time.monotonic()
        produce_psrn_minute(bootstrap, MINUTE + timedelta(minutes=1))
        wait_until("the new minute served", lambda: any(m.startswith("2026-11-02T10:01")
                                                        for m in served_minutes(server)), 60)
        resumed = time.monotonic() - produced
        # serving the new record and reaching the high watermarks are two steps of the feeder:
        # the state must turn live (it may trail the served record by a fetch wait or two)
        health = wait_until("/health saying live", lambda: (lambda h: h if h["cache_state"] == "live" else None)(
            requests.get(f"{server.url}/health", timeout=5).json()), 15)
        assert health["cache_caught_up"] is True and health["cache_state"] == "live", health
        refused = [r for r in caplog.records if "refused" in r.getMessage().lower()]
        feeder_lines = [r for r in caplog.records if r.name.endswith("feeder")]
        print(f"resumed {resumed:.1f}s after the first new record; {len(refused)} 'refused' lines, "
              f"{len(feeder_lines)} feeder lines")
        assert resumed < 60
        assert len(refused) <= 10, [r.getMessage() for r in refused]
        assert len(feeder_lines) <= 12, [r.getMessage() for r in feeder_lines]
    finally:
        if server is not None:
            server.__exit__(None, None, None)
        broker.stop()
