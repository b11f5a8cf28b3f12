"""Real Dagster (instance, sensor evaluation, job and asset execution) over the real parts."""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import requests

from energy_orchestration.assets.aggregates import zone_hourly
from energy_orchestration.assets.partitions import hour_key
from energy_orchestration.definitions import defs
from energy_orchestration.ingest import WindowPolicy
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.sensors.fetch import (
    ACKED_TAG_PREFIX,
    LIVE_DATASETS,
    evaluate_fetch_sensor,
    fetch_job,
    fetch_sensor,
)
from energy_orchestration.sources import DATASETS

pytestmark = pytest.mark.integration

POLICY = WindowPolicy(overlap=timedelta(minutes=5), initial_lookback=timedelta(minutes=15),
                      max_window=timedelta(hours=24))


def resources(standin_url, bootstrap, warehouse, attempts=4):
    return {"energidataservice": EnergiDataServiceResource(base_url=standin_url, timeout_seconds=5,
                                                           max_attempts=attempts, backoff_seconds=0.05),
            "odre": OdreResource(base_url=standin_url, timeout_seconds=5, max_attempts=attempts, backoff_seconds=0.05),
            "kafka": KafkaResource(bootstrap_servers=bootstrap),
            "warehouse": WarehouseResource(path=str(warehouse.path))}


PSRN = ("PowerSystemRightNow",)  # the fetch mechanics, shown on one dataset


def run_tick(instance, cursor, now, res):
    decision, cursor = evaluate_fetch_sensor(instance, cursor, now, datasets=PSRN, policy=POLICY)
    if isinstance(decision, dg.SkipReason):
        return None, cursor
    result = fetch_job.execute_in_process(run_config=decision.run_config, instance=instance,
                                          tags=decision.tags, resources=res, raise_on_error=False)
    return result, cursor


def test_definitions_load_with_lineage_from_history_to_monthly():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    names = ["powersystemrightnow", "co2emis", "electricityprodex5minrealtime", "eco2mix_national_tr",
             "eco2mix_regional_tr", "eco2mix_regional_cons_def", "eco2mix_national_cons_def"]
    raw, history = {f"raw/{n}" for n in names}, {f"history/{n}" for n in names}
    aggregates = {"agg/zone_hourly", "agg/zone_daily", "agg/zone_weekly", "agg/zone_monthly"}
    assert keys == raw | history | aggregates

    def parents(key: str) -> set[str]:
        return {p.to_user_string() for p in graph.get(dg.AssetKey.from_user_string(key)).parent_keys}

    assert parents("agg/zone_hourly") == raw
    assert parents("raw/powersystemrightnow") == {"history/powersystemrightnow"}
    assert parents("agg/zone_daily") == {"agg/zone_hourly"}
    assert parents("agg/zone_weekly") == parents("agg/zone_monthly") == {"agg/zone_daily"}
    for sensor in ("fetch_sensor", "landing_sensor", "rollup_sensor", "gap_repair_sensor"):
        assert defs.resolve_sensor_def(sensor).default_status == dg.DefaultSensorStatus.RUNNING


def test_sensor_tick_through_dagster_launches_one_run_with_a_run_key(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        context = dg.build_sensor_context(instance=instance, cursor=None)
        result = fetch_sensor(context)
        [request] = result.run_requests
        windows = {w["dataset"]: w for w in request.run_config["ops"]["fetch_and_publish_windows"]["config"]["windows"]}
        assert set(windows) == set(LIVE_DATASETS)  # one run for every due dataset
        assert request.run_key.startswith("fetch:PowerSystemRightNow@")
        for dataset, window in windows.items():
            start, end = (datetime.fromisoformat(window[k]) for k in ("start", "end"))
            step = timedelta(minutes=DATASETS[dataset].interval_minutes)
            assert timedelta(0) < end - start <= timedelta(minutes=15) + step and (end - start) % step == timedelta(0)


def test_a_fetch_run_publishes_and_reports_its_acknowledgement(tmp_path, standin, bootstrap, warehouse, land_all):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        now = datetime.now(timezone.utc)
        result, cursor = run_tick(instance, None, now, resources(standin.url, bootstrap, warehouse))
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        acked = run.tags[ACKED_TAG_PREFIX + "PowerSystemRightNow"]
        # the next tick folds the acknowledgement into its cursor and overlaps it by 5 minutes
        decision, cursor = evaluate_fetch_sensor(instance, cursor, now + timedelta(minutes=1), datasets=PSRN,
                                                 policy=POLICY)
        assert json.loads(cursor)["acked"] == {"PowerSystemRightNow": acked}
        window = decision.run_config["ops"]["fetch_and_publish_windows"]["config"]["windows"][0]
        assert datetime.fromisoformat(window["start"]) == datetime.fromisoformat(acked) - timedelta(minutes=5)
    assert land_all().messages == 15


def test_three_minutes_of_503_leave_no_gap(tmp_path, bootstrap, warehouse, land_all):
    """The stand-in fails for three sensor ticks; the next successful run covers the gap."""
    from energy_orchestration.standin import StandinConfig, StandinServer

    clock = {"now": datetime.now(timezone.utc).replace(second=30, microsecond=0) - timedelta(hours=3)}
    start = clock["now"]
    outcomes = []
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=lambda: clock["now"])) as server, \
            dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        res = resources(server.url, bootstrap, warehouse, attempts=2)
        cursor = None
        for minute in range(8):
            clock["now"] = start + timedelta(minutes=minute)
            if minute == 2:
                requests.post(f"{server.url}/_standin/faults", json={"fail_for_seconds": 3600, "fail_status": 503},
                              timeout=5).raise_for_status()
            if minute == 5:
                requests.delete(f"{server.url}/_standin/faults", timeout=5).raise_for_status()
            result, cursor = run_tick(instance, cursor, clock["now"], res)
            outcomes.append(result.success)
    assert outcomes == [True, True, False, False, False, True, True, True]

    land_all()
    first = (start - timedelta(minutes=15)).replace(second=0, tzinfo=None)
    last = (start + timedelta(minutes=7)).replace(second=0, tzinfo=None) - timedelta(minutes=1)
    with warehouse.connect(read_only=True) as db:
        minutes = db.execute("""
            SELECT zone, count(DISTINCT interval_start_utc), min(interval_start_utc), max(interval_start_utc)
            FROM observations WHERE zone IN ('DK-DK1', 'DK-DK2') GROUP BY zone ORDER BY zone""").fetchall()
    expected = int((last - first).total_seconds() // 60) + 1
    assert minutes == [("DK-DK1", expected, first, last), ("DK-DK2", expected, first, last)]


def test_hourly_partitions_backfill_as_one_run_and_rebuild_in_place(tmp_path, standin, bootstrap, warehouse,
                                                                   land_all):
    from energy_orchestration.ingest import Window, fetch_and_publish
    from energy_orchestration.sources.energidataservice import EnergiDataServiceClient

    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    fetch_and_publish(EnergiDataServiceClient(standin.url), bootstrap,
                      Window("PowerSystemRightNow", hour, hour + timedelta(hours=2)))
    land_all()
    keys = [hour_key(hour.replace(tzinfo=None)), hour_key((hour + timedelta(hours=1)).replace(tzinfo=None))]
    res = {"warehouse": WarehouseResource(path=str(warehouse.path))}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([zone_hourly], instance=instance, resources=res,
                                tags={"dagster/asset_partition_range_start": keys[0],
                                      "dagster/asset_partition_range_end": keys[1]})
        assert result.success
        materializations = result.asset_materializations_for_node("agg__zone_hourly")
        assert sorted(m.partition for m in materializations) == keys  # one run, both partitions
        assert materializations[0].metadata["dagster/row_count"].value == 2 * 3  # DK, DK1, DK2 per hour
        assert materializations[0].metadata["coverage_pct"].value == 100.0
        [check] = result.get_asset_check_evaluations()
        assert check.passed and check.metadata["missing_field_intervals"].value == 0
        # rebuilding replaces the partition instead of adding to it
        assert dg.materialize([zone_hourly], instance=instance, resources=res, partition_key=keys[0]).success
    with warehouse.connect(read_only=True) as db:
        rows = db.execute("""SELECT hour_start_utc, count(*), min(coverage_pct) FROM zone_hourly
                             GROUP BY 1 ORDER BY 1""").fetchall()
        onshore = db.execute("""SELECT h.production_wind_onshore, avg(o.value) FROM zone_hourly h JOIN observations o
                                ON o.zone = h.zone AND date_trunc('hour', o.interval_start_utc) = h.hour_start_utc
                                WHERE o.quantity = 'production_wind_onshore' GROUP BY ALL""").fetchall()
    assert rows == [(hour.replace(tzinfo=None), 3, 100.0), ((hour + timedelta(hours=1)).replace(tzinfo=None), 3, 100.0)]
    assert len(onshore) == 2
    for mean, raw_mean in onshore:
        assert mean == pytest.approx(raw_mean)


def test_each_dataset_keeps_its_own_cadence_and_the_odre_budget_is_respected(tmp_path, monkeypatch):
    """PowerSystemRightNow every minute, the 5-minute sets every 5, éCO2mix once per quarter-hour
    after its publication lag; ODRÉ requests stop for the day when the budget is spent."""
    def windows_at(instance, cursor, now):
        decision, cursor = evaluate_fetch_sensor(instance, cursor, now, datasets=tuple(LIVE_DATASETS), policy=POLICY)
        if isinstance(decision, dg.SkipReason):
            return set(), cursor, decision
        windows = decision.run_config["ops"]["fetch_and_publish_windows"]["config"]["windows"]
        return {w["dataset"] for w in windows}, cursor, decision


    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        start = datetime(2026, 11, 23, 10, 0, 30, tzinfo=timezone.utc)
        due_counts = {d: 0 for d in LIVE_DATASETS}
        cursor = None
        for minute in range(60):
            now = start + timedelta(minutes=minute)
            due, cursor, decision = windows_at(instance, cursor, now)
            for dataset in due:
                due_counts[dataset] += 1
            # acknowledge exactly the windows planned (their ends), as successful runs would
            state = json.loads(cursor)
            if due:
                for w in decision.run_config["ops"]["fetch_and_publish_windows"]["config"]["windows"]:
                    state["acked"][w["dataset"]] = w["end"]
            cursor = json.dumps(state)
        assert due_counts["PowerSystemRightNow"] == 60
        assert due_counts["CO2Emis"] == due_counts["ElectricityProdex5MinRealtime"] == 12
        # the first fetch, then each quarter-hour once published (+10 min lag): 10:10, 10:25, 10:40, 10:55
        assert due_counts["eco2mix-national-tr"] == due_counts["eco2mix-regional-tr"] == 5
        assert json.loads(cursor)["spent"]["odre"] > 0

        monkeypatch.setenv("ENERGY_ODRE_DAILY_REQUEST_BUDGET", str(json.loads(cursor)["spent"]["odre"]))
        later = start + timedelta(minutes=75)
        due, cursor, _ = windows_at(instance, cursor, later)
        assert "eco2mix-regional-tr" not in due and "PowerSystemRightNow" in due
