"""Landed, not acknowledged, is what counts: a history backfill whose records the broker
acknowledged and then lost (memory-only broker killed before the consumer landed them) re-publishes
what is missing, and every backfilled interval ends up in the warehouse."""

import threading
from datetime import datetime

import dagster as dg
import pytest

from energy_orchestration.assets import history
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.consumer import LandingConsumer

pytestmark = [pytest.mark.integration, pytest.mark.chaos]

DATASET = "CO2Emis"          # 5-minute steps, DK1 and DK2: 576 records a day
FIRST, LAST = "2025-01-06", "2025-01-07"


def test_records_lost_with_the_broker_are_published_again_until_every_interval_landed(
        standin, warehouse, isolated_topics, monkeypatch):
    broker = EmbeddedBroker().start()
    stop, consumer_threads = threading.Event(), []
    real_await = history.await_landing
    waits: list[int] = []

    def kill_broker_before_landing(*args, **kwargs):
        """Between publish and landing: SIGKILL the broker (its memory, so every acknowledged
        record, is gone), start a fresh one on the same port and then the consumer."""
        if not waits:
            broker._process.kill()
            broker._process.wait()
            broker._process = None
            broker.start()
            consumer = LandingConsumer(broker.bootstrap_servers, warehouse, f"{isolated_topics}-landing",
                                       batch_max_messages=5000, batch_max_seconds=0.5)
            consumer_threads.append(threading.Thread(target=consumer.run, args=(stop,), daemon=True))
            consumer_threads[0].start()
        waits.append(len(args[2]))
        return real_await(*args, **kwargs)

    monkeypatch.setattr(history, "await_landing", kill_broker_before_landing)
    asset = next(a for a in history.HISTORY_ASSETS if a.key == history.history_asset_key(DATASET))
    resources = {"energidataservice": EnergiDataServiceResource(base_url=standin.url),
                 "odre": OdreResource(base_url=standin.url),
                 "kafka": KafkaResource(bootstrap_servers=broker.bootstrap_servers),
                 "warehouse": WarehouseResource(path=str(warehouse.path))}
    try:
        result = dg.materialize(
            [asset], resources=resources, raise_on_error=False,
            tags={"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST},
            run_config={"ops": {asset.op.name: {"config": {"landing_stall_seconds": 4}}}})
    finally:
        stop.set()
        for thread in consumer_threads:
            thread.join(30)
        broker.stop()

    assert result.success, [e.message for e in result.all_events if e.is_failure]
    expected = 2 * 288 * 2
    assert waits == [expected, expected]  # everything was lost once, then all of it was published again
    metadata = result.asset_materializations_for_node(asset.op.name)[0].metadata
    assert metadata["records_fetched"].value == metadata["records_landed"].value == expected
    assert metadata["records_republished"].value == expected
    with warehouse.connect(read_only=True) as db:
        landed = db.execute("""
            SELECT count(DISTINCT (zone, interval_start_utc)), min(interval_start_utc), max(interval_start_utc)
            FROM observations WHERE dataset = ?""", [DATASET]).fetchone()
    # 2025-01-06 00:00 Paris = 2025-01-05 23:00 UTC; every 5-minute interval of both areas
    assert landed == (expected, datetime(2025, 1, 5, 23, 0), datetime(2025, 1, 7, 22, 55))
    check = result.get_asset_check_evaluations()[0]
    assert check.passed and check.metadata["rows_fetched"].value == expected
