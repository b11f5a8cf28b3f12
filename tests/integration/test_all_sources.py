"""Every live dataset, stand-ins over HTTP -> broker -> consumer -> DuckDB, with deliberate bad records."""

from datetime import timedelta

import dagster as dg
import pytest
import requests

from energy_orchestration.assets.quality import quality_job, quality_sensor
from energy_orchestration.definitions import defs
from energy_orchestration.ingest import WindowPolicy, fetch_and_publish, plan_window
from energy_orchestration.model import ZONES, utc_now
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.sensors.fetch import LIVE_DATASETS
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.sources.odre import OdreClient

pytestmark = [pytest.mark.integration, pytest.mark.clock]  # the sample is "the last hours" of the clock

FIVE = ("PowerSystemRightNow", "CO2Emis", "ElectricityProdex5MinRealtime", "eco2mix-national-tr", "eco2mix-regional-tr")


def test_all_five_datasets_land_and_every_record_is_accounted_for(standin, bootstrap, warehouse, land_all, tmp_path):
    assert set(FIVE) <= set(LIVE_DATASETS)
    requests.post(f"{standin.url}/_standin/faults", json={"bad_record_rate": 0.2}, timeout=5).raise_for_status()
    clients = {"energidataservice": EnergiDataServiceClient(standin.url), "odre": OdreClient(standin.url)}
    policy = WindowPolicy(initial_lookback=timedelta(hours=2))
    now = utc_now()
    fetched = {}
    for dataset in FIVE:
        window = plan_window(dataset, now, None, policy)
        provider = "odre" if dataset.startswith("eco2mix") else "energidataservice"
        outcome = fetch_and_publish(clients[provider], bootstrap, window, warehouse)
        assert outcome.published == outcome.fetched > 0, dataset
        fetched[dataset] = outcome.fetched
    land_all()

    with warehouse.connect(read_only=True) as db:
        zones = {z for (z,) in db.execute("SELECT DISTINCT zone FROM observations").fetchall()}
        landed = dict(db.execute("SELECT dataset, count(*) FROM raw_records GROUP BY 1").fetchall())
        refused = dict(db.execute("""SELECT dataset, count(DISTINCT source_id) FROM quarantine
                                     WHERE stage = 'record' GROUP BY 1""").fetchall())
        rules = db.execute("""SELECT DISTINCT dataset, rule, reason FROM quarantine
                              WHERE stage IN ('record', 'value')""").fetchall()
        mix = db.execute("""
            SELECT zone, count(DISTINCT quantity) FILTER (WHERE starts_with(quantity, 'production_')) AS modes
            FROM observations
            WHERE interval_start_utc >= (SELECT max(interval_start_utc) FROM observations) - INTERVAL 1 HOUR
            GROUP BY zone""").fetchall()
        co2 = dict(db.execute("""
            SELECT zone, avg(coalesce(reported, computed)) FROM co2_intensity
            WHERE interval_start_utc >= ?::TIMESTAMP - INTERVAL 3 HOUR GROUP BY zone""",
            [now.replace(tzinfo=None)]).fetchall())
        duplicates = db.execute("""SELECT count(*) FROM (SELECT 1 FROM observations
            GROUP BY dataset, zone, quantity, interval_start_utc HAVING count(*) > 1)""").fetchall()[0][0]

    expected_zones = {"DK", "DK-DK1", "DK-DK2", "FR"} | {z for z in ZONES if z.startswith("FR-")}
    assert zones == expected_zones
    assert duplicates == 0
    # nothing dropped silently: every fetched record landed or was refused with a reason
    for dataset in FIVE:
        assert landed.get(dataset, 0) + refused.get(dataset, 0) == fetched[dataset], dataset
    # the stand-in's deliberately bad values were caught, each with its reason
    for provider_datasets in (("PowerSystemRightNow", "CO2Emis", "ElectricityProdex5MinRealtime"),
                              ("eco2mix-national-tr", "eco2mix-regional-tr")):
        caught = {rule for dataset, rule, _ in rules if dataset in provider_datasets}
        assert caught >= {"negative_production", "not_a_number", "out_of_bounds"}, (provider_datasets, caught)
    assert all(reason for _, _, reason in rules)
    # every zone has a production mix and a CO2 intensity (reported or computed)
    assert all(modes >= 2 for zone, modes in mix), mix
    assert set(co2) == expected_zones and all(0 < value < 1000 for value in co2.values()), co2

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        job = defs.resolve_job_def(quality_job.name)
        result = job.execute_in_process(instance=instance,
                                        resources={"warehouse": WarehouseResource(path=str(warehouse.path))})
        # the same checks from quality_sensor's tick (what the demo runs every 15 minutes): no run,
        # the same quarantine figures and verdicts
        sensed = quality_sensor(dg.build_sensor_context(
            instance=instance, resources={"warehouse": WarehouseResource(path=str(warehouse.path))}))
    from_job = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    from_sensor = {(e.asset_key.to_user_string(), e.check_name): e for e in sensed.asset_events}
    assert set(from_sensor) == set(from_job)
    for key, evaluation in from_job.items():
        if key[1] == "quarantine_last_24h":
            assert from_sensor[key].passed == evaluation.passed, key
            assert from_sensor[key].metadata["values_rejected"] == evaluation.metadata["values_rejected"], key
    evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    prodex = evaluations["raw/electricityprodex5minrealtime"]
    assert prodex.metadata["values_rejected"].value > 0
    by_rule = prodex.metadata["by_rule"].value
    assert "negative_production" in by_rule or "out_of_bounds" in by_rule
