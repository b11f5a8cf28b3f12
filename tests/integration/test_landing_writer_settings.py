"""The landing writer's two process settings (issue 11, eighth pass): one DuckDB thread on its
write connection, and a short interpreter switch interval while the consumer runs. Both apply
only where they should: not to later connections of the process, not after the run."""

import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from energy_orchestration.model import utc_now
from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.standin.synthetic_dk import power_system_right_now_records
from energy_orchestration.streaming import consumer as consumer_module
from energy_orchestration.streaming.consumer import GIL_SWITCH_INTERVAL_SECONDS, LandingConsumer
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import raw_topic
from energy_orchestration.warehouse import Warehouse

pytestmark = pytest.mark.integration

THREADS = "SELECT current_setting('threads')"


def test_a_writer_with_its_own_thread_count_leaves_the_next_connections_at_the_default(tmp_path: Path):
    plain = Warehouse(tmp_path / "w.duckdb")
    with plain.connect() as db:
        default = db.execute(THREADS).fetchall()[0][0]
    # a count unlike the default on any machine (one core would make 1 the default), so a leak shows
    chosen = default + 1
    with Warehouse(tmp_path / "w.duckdb", writer_threads=chosen).connect() as db:
        assert db.execute(THREADS).fetchall()[0][0] == chosen
    with plain.connect() as db:  # the instance closed with the writer: nothing carried over
        assert db.execute(THREADS).fetchall()[0][0] == default
    with Warehouse(tmp_path / "w.duckdb", writer_threads=chosen).connect(read_only=True) as db:
        assert db.execute(THREADS).fetchall()[0][0] == default  # readers never take it


def test_the_consumer_lands_with_one_thread_and_a_short_switch_interval_then_restores_it(
        bootstrap, warehouse, isolated_topics, monkeypatch):
    start = utc_now().replace(second=0, microsecond=0, tzinfo=None) - timedelta(minutes=30)
    records = power_system_right_now_records(start, start + timedelta(minutes=20))
    publish_records(bootstrap, raw_topic("PowerSystemRightNow"), "energidataservice", "PowerSystemRightNow",
                    records, POWER_SYSTEM_RIGHT_NOW.message_zone, utc_now())
    seen: list[tuple[int, float]] = []
    real_land = consumer_module.land

    def land_and_note(connection, batch, landed_at):
        seen.append((connection.execute(THREADS).fetchall()[0][0], sys.getswitchinterval()))
        return real_land(connection, batch, landed_at)

    monkeypatch.setattr(consumer_module, "land", land_and_note)
    before = sys.getswitchinterval()
    stats = LandingConsumer(bootstrap, warehouse, f"{isolated_topics}-settings", datasets=["PowerSystemRightNow"],
                            batch_max_seconds=0.5).run(threading.Event(), idle_exit_seconds=2)
    assert stats.messages == 20
    assert seen and all(threads == 1 for threads, _ in seen)
    assert all(interval == pytest.approx(GIL_SWITCH_INTERVAL_SECONDS) for _, interval in seen)
    assert sys.getswitchinterval() == before != GIL_SWITCH_INTERVAL_SECONDS
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT count(DISTINCT interval_start_utc) FROM observations").fetchall()[0][0] == 20
