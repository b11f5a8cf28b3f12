"""The pipeline keeps itself right: revisions rebuild exactly what they touch, gaps are found
by the checks and re-fetched by the sensor. Real Dagster (instance, sensors' evaluation
functions, asset and job execution) over the real broker, stand-in and DuckDB file."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest

from energy_orchestration.assets.aggregates import zone_daily, zone_hourly, zone_monthly, zone_weekly
from energy_orchestration.assets.partitions import hour_key
from energy_orchestration.assets.quality import completeness_check
from energy_orchestration.assets.raw import raw_asset_spec
from energy_orchestration.model import utc_now
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.sensors.fetch import fetch_job
from energy_orchestration.sensors.gap_repair import evaluate_gap_repair
from energy_orchestration.sensors.landing import RANGE_END_TAG, RANGE_START_TAG, evaluate_landing, evaluate_rollup
from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.standin.synthetic_dk import power_system_right_now_record
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import raw_topic

pytestmark = pytest.mark.integration

ASSET_OF_JOB = {"zone_hourly_job": zone_hourly, "zone_daily_job": zone_daily,
                "zone_weekly_job": zone_weekly, "zone_monthly_job": zone_monthly}


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def partitions_of(request: dg.RunRequest) -> tuple[str, str]:
    if request.partition_key:
        return request.partition_key, request.partition_key
    return (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG])


def execute(requests: list[dg.RunRequest], instance, warehouse) -> None:
    """Run what a sensor asked for, as the daemon would (one run per request)."""
    res = {"warehouse": WarehouseResource(path=str(warehouse.path))}
    for request in requests:
        asset = ASSET_OF_JOB[request.job_name]
        kwargs = ({"partition_key": request.partition_key} if request.partition_key
                  else {"tags": {k: v for k, v in request.tags.items() if k.startswith("dagster/")}})
        assert dg.materialize([asset], instance=instance, resources=res, **kwargs).success


def landing_tick(warehouse, cursor):
    """A landing sensor tick that sees everything committed so far (no settle delay)."""
    return evaluate_landing(warehouse, cursor, utc_now(), settle=timedelta(0))


def test_a_revised_value_rebuilds_exactly_its_hour_day_week_and_month(tmp_path, land_range, warehouse, bootstrap,
                                                                      land_all):
    start, end = utc(2025, 2, 10, 22), utc(2025, 2, 12, 2)
    land_range(start, end, ["PowerSystemRightNow"])
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        # first build of everything that landed, driven only by the sensors
        events, requests, landing_cursor = landing_tick(warehouse, None)
        # hour partitions are local (Paris, UTC+1 in February): 22:00 UTC is key 23:00
        assert {e.partition for e in events} == {hour_key(datetime(2025, 2, 10, 22) + timedelta(hours=n))
                                                 for n in range(28)}
        assert [partitions_of(r) for r in requests] == [("2025-02-10-23:00", "2025-02-12-02:00")]
        execute(requests, instance, warehouse)
        requests, rollup_cursor = evaluate_rollup(instance, None, utc_now())
        assert [(r.job_name, partitions_of(r)) for r in requests] == [("zone_daily_job", ("2025-02-10", "2025-02-12"))]
        execute(requests, instance, warehouse)
        requests, rollup_cursor = evaluate_rollup(instance, rollup_cursor, utc_now())
        assert sorted((r.job_name, partitions_of(r)) for r in requests) == [
            ("zone_monthly_job", ("2025-02-01", "2025-02-01")), ("zone_weekly_job", ("2025-02-10", "2025-02-10"))]
        execute(requests, instance, warehouse)
        requests, rollup_cursor = evaluate_rollup(instance, rollup_cursor, utc_now())
        assert requests == []  # weeks and months are leaves: nothing follows them
        with warehouse.connect(read_only=True) as db:
            before = db.execute("""SELECT production_wind_offshore FROM zone_hourly
                                   WHERE zone = 'DK' AND hour_start_utc = '2025-02-11 13:00'""").fetchall()[0][0]
            built = dict(db.execute("SELECT 'daily', max(built_at_utc) FROM zone_daily").fetchall())

        # the provider revises one minute: +60 MW offshore wind at 13:37
        record = power_system_right_now_record(utc(2025, 2, 11, 13, 37))
        record["OffshoreWindPower"] = float(record["OffshoreWindPower"]) + 60.0
        spec = DATASETS["PowerSystemRightNow"]
        publish_records(bootstrap, raw_topic("PowerSystemRightNow"), spec.provider, "PowerSystemRightNow",
                        [record], spec.message_zone, utc_now())
        events, requests, landing_cursor = landing_tick(warehouse, landing_cursor)
        assert events == [] and requests == []  # published, not landed yet: nothing to rebuild
        land_all()  # the same consumer group: only the revision is new
        events, requests, landing_cursor = landing_tick(warehouse, landing_cursor)
        assert [(e.asset_key.to_user_string(), e.partition, e.metadata["rows"].value) for e in events] == [
            ("raw/powersystemrightnow", "2025-02-11-14:00", 1)]  # only the changed value re-landed
        assert [partitions_of(r) for r in requests] == [("2025-02-11-14:00", "2025-02-11-14:00")]
        execute(requests, instance, warehouse)
        requests, rollup_cursor = evaluate_rollup(instance, rollup_cursor, utc_now())
        assert [(r.job_name, partitions_of(r)) for r in requests] == [("zone_daily_job", ("2025-02-11", "2025-02-11"))]
        execute(requests, instance, warehouse)
        requests, rollup_cursor = evaluate_rollup(instance, rollup_cursor, utc_now())
        assert sorted((r.job_name, partitions_of(r)) for r in requests) == [
            ("zone_monthly_job", ("2025-02-01", "2025-02-01")), ("zone_weekly_job", ("2025-02-10", "2025-02-10"))]
        execute(requests, instance, warehouse)
    with warehouse.connect(read_only=True) as db:
        after = db.execute("""SELECT production_wind_offshore FROM zone_hourly
                              WHERE zone = 'DK' AND hour_start_utc = '2025-02-11 13:00'""").fetchall()[0][0]
        rebuilt_days = db.execute("SELECT DISTINCT local_date FROM zone_daily WHERE built_at_utc > ? ORDER BY 1",
                                  [built["daily"]]).fetchall()
    assert after == pytest.approx(before + 1.0)  # +60 MW for one minute of the hour's mean
    assert [d for (d,) in rebuilt_days] == [datetime(2025, 2, 11).date()]


def test_a_dropped_hour_fails_the_check_and_the_sensor_repairs_it(tmp_path, land_range, warehouse, standin,
                                                                  bootstrap, land_all):
    now = utc_now()
    hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    land_range(hour - timedelta(hours=1), now.replace(second=0, microsecond=0) - timedelta(minutes=1),
               ["PowerSystemRightNow"])
    naive = hour.replace(tzinfo=None)
    with warehouse.transaction() as db:  # an hour vanishes from the warehouse
        db.execute("DELETE FROM observations WHERE interval_start_utc >= ? AND interval_start_utc < ?",
                   [naive, naive + timedelta(hours=1)])

    spec = raw_asset_spec("PowerSystemRightNow")
    check = completeness_check(spec)
    res = {"warehouse": WarehouseResource(path=str(warehouse.path)),
           "energidataservice": EnergiDataServiceResource(base_url=standin.url, backoff_seconds=0.05),
           "odre": OdreResource(base_url=standin.url), "kafka": KafkaResource(bootstrap_servers=bootstrap)}
    checks_only = dg.Definitions(assets=[spec], asset_checks=[check], resources=res, jobs=[
        dg.define_asset_job("check_psrn", selection=dg.AssetSelection.checks(check))])

    def run_check(instance) -> dg.AssetCheckEvaluation:
        result = checks_only.resolve_job_def("check_psrn").execute_in_process(instance=instance)
        [evaluation] = result.get_asset_check_evaluations()
        return evaluation

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        failing = run_check(instance)
        assert not failing.passed
        assert failing.metadata["missing_field_intervals"].value == 60 * len(POWER_SYSTEM_RIGHT_NOW.mappings)
        assert hour.strftime("%Y-%m-%d %H:%M") in failing.metadata["incomplete_fields"].value

        request, evaluations, cursor = evaluate_gap_repair(warehouse, None, utc_now(),
                                                           datasets=("PowerSystemRightNow",))
        assert isinstance(request, dg.RunRequest)
        [red] = evaluations  # the sensor reports the check failing at once, not at the next scheduled run
        assert not red.passed
        assert red.metadata["missing_field_intervals"].value == 60 * len(POWER_SYSTEM_RIGHT_NOW.mappings)
        assert request.run_config["ops"]["fetch_and_publish_windows"]["config"]["windows"] == [
            {"dataset": "PowerSystemRightNow", "start": hour.isoformat(),
             "end": (hour + timedelta(hours=1)).isoformat()}]
        again, _, _ = evaluate_gap_repair(warehouse, cursor, utc_now(), datasets=("PowerSystemRightNow",))
        assert isinstance(again, dg.SkipReason) and "being repaired" in again.skip_message  # no duplicate fetch

        assert fetch_job.execute_in_process(run_config=request.run_config, instance=instance, resources=res,
                                            tags=request.tags).success
        land_all()
        passing = run_check(instance)
        assert passing.passed and passing.metadata["missing_field_intervals"].value == 0
        done, evaluations, cursor = evaluate_gap_repair(warehouse, cursor, utc_now(), datasets=("PowerSystemRightNow",))
        assert isinstance(done, dg.SkipReason) and "no unexplained gaps" in done.skip_message
        [green] = evaluations  # reported once more, passing, now that it is whole
        assert green.passed
        _, evaluations, _ = evaluate_gap_repair(warehouse, cursor, utc_now(), datasets=("PowerSystemRightNow",))
        assert evaluations == []  # and then quiet while it stays whole
