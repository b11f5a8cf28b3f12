"""Landed, not acknowledged, is what counts: a history backfill whose records the broker
acknowledged and then lost (memory-only broker killed before the consumer landed them) re-publishes
what is missing, and every backfilled interval ends up in the warehouse."""

import json
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


def test_gap_repair_watches_backfilled_days_however_old(tmp_path, land_range, land_all, warehouse, standin, bootstrap):
    """A backfilled day that lost records after its run (here: deleted) is found by the gap-repair
    sensor from the history materialization's per-day counts and re-fetched, though far outside
    the trailing 72 hours; once whole it is no longer watched."""
    from datetime import date, timezone

    from energy_orchestration.model import utc_now
    from energy_orchestration.sensors.fetch import fetch_job
    from energy_orchestration.sensors.gap_repair import backfilled_since, evaluate_gap_repair

    land_range(datetime(2025, 1, 5, 23, tzinfo=timezone.utc), datetime(2025, 1, 7, 23, tzinfo=timezone.utc), [DATASET])
    with warehouse.transaction() as db:  # the second day's records never made it
        db.execute("DELETE FROM raw_records WHERE interval_start_utc >= '2025-01-06 23:00'")
        db.execute("DELETE FROM observations WHERE interval_start_utc >= '2025-01-06 23:00'")
    res = {"warehouse": WarehouseResource(path=str(warehouse.path)),
           "energidataservice": EnergiDataServiceResource(base_url=standin.url, backoff_seconds=0.05),
           "odre": OdreResource(base_url=standin.url), "kafka": KafkaResource(bootstrap_servers=bootstrap)}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        key = history.history_asset_key(DATASET)
        for day in (FIRST, LAST):  # what the history run recorded: 576 records fetched per day
            instance.report_runless_asset_event(dg.AssetMaterialization(
                asset_key=key, partition=day,
                metadata={"records_per_day": dg.MetadataValue.json({FIRST: 576, LAST: 576})}))
        backfilled, newest = backfilled_since(instance, 0)
        assert sorted((b.day, b.fetched) for b in backfilled) == [(date(2025, 1, 6), 576), (date(2025, 1, 7), 576)]
        assert backfilled_since(instance, newest) == ([], newest)

        request, _, cursor = evaluate_gap_repair(warehouse, None, utc_now(), datasets=(DATASET,),
                                                 backfilled=backfilled, history_storage_id=newest)
        assert isinstance(request, dg.RunRequest)
        assert request.run_config["ops"]["fetch_and_publish_windows"]["config"]["windows"] == [
            {"dataset": DATASET, "start": "2025-01-06T23:00:00+00:00", "end": "2025-01-07T23:00:00+00:00"}]
        assert list(json.loads(cursor)["backfills"]) == [f"{DATASET}|{LAST}"]  # the whole day is done with
        assert fetch_job.execute_in_process(run_config=request.run_config, instance=instance, resources=res,
                                            tags=request.tags).success
        land_all()
        done, _, cursor = evaluate_gap_repair(warehouse, cursor, utc_now(), datasets=(DATASET,))
        assert isinstance(done, dg.SkipReason) and "backfills" not in json.loads(cursor)
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT count(*) FROM raw_records WHERE dataset = ?", [DATASET]).fetchone()[0] == 2 * 576
