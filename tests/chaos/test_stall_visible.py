"""A consumer that cannot land says so: its health file, `energy status`, `/health` and
`/api/v1/freshness` report "landing stalled since …, last error …" instead of "lag 0"."""

import subprocess
import sys
import threading

import pytest
import requests

from energy_orchestration.streaming.consumer import LandingConsumer
from energy_orchestration.streaming.health import HealthRecorder, read_health
from energy_orchestration.warehouse.status import warehouse_status
from tests.chaos.support import landed_counts, publish_minutes, wait_for
from tests.integration.serving_support import start_api

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def _hold_file(path) -> subprocess.Popen:
    """Another program opening the DuckDB file itself (outside the platform's lock) until its
    stdin closes. (Within one process DuckDB would share the file instead of refusing it.)"""
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
                               "print('held', flush=True); sys.stdin.read()", str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"held"
    return holder


def test_a_stalled_consumer_is_reported_everywhere(bootstrap, warehouse, isolated_topics):
    with warehouse.connect():
        pass
    publish_minutes(bootstrap, 30)
    api = start_api(warehouse, None)
    stop = threading.Event()
    consumer = LandingConsumer(bootstrap, warehouse, f"{isolated_topics}-stall", batch_max_seconds=0.2)
    runner = threading.Thread(target=consumer.run, args=(stop,), kwargs={"idle_exit_seconds": 60})
    foreign = _hold_file(warehouse.path)
    try:  # another program holds the file: every write fails
        runner.start()
        wait_for(lambda: getattr(read_health(warehouse.path), "state", None) == "stalled", 30, "a stalled state")
        health = requests.get(f"{api.url}/health", timeout=5).json()
        assert health["status"] == "degraded"
        assert "landing stalled since" in health["landing"] and "IOException" in health["landing"]
        foreign.communicate(b"", timeout=10)
        wait_for(lambda: landed_counts(warehouse)["raw"] == 30, 60, "landing to resume")
        wait_for(lambda: read_health(warehouse.path).stalled_since_utc is None, 10, "the stall to clear")
        assert requests.get(f"{api.url}/health", timeout=5).json()["status"] == "ok"
        stop.set()
        runner.join(30)
        assert read_health(warehouse.path).state == "stopped"
        assert "Landing: ok" in warehouse_status(warehouse)
        # a stall reported while the warehouse itself is readable: status and freshness name it
        HealthRecorder(warehouse.path, "other").failed("IOException: disk full")
        assert "Landing: NOT OK: landing stalled since" in warehouse_status(warehouse)
        landing = requests.get(f"{api.url}/api/v1/freshness", timeout=5).json()["landing"]
        assert not landing["ok"] and landing["last_error"] == "IOException: disk full"
        assert landing["stalled_since_utc"]
    finally:
        stop.set()
        if foreign.poll() is None:
            foreign.kill()
        api.__exit__(None, None, None)


def test_the_dagster_completeness_check_names_a_stalled_consumer(warehouse, tmp_path):
    import dagster as dg

    from energy_orchestration.assets.quality import completeness_check
    from energy_orchestration.assets.raw import raw_asset_spec
    from energy_orchestration.resources import WarehouseResource

    with warehouse.connect():
        pass
    HealthRecorder(warehouse.path, "group").failed("WarehouseBusy: warehouse lock held for 600s")
    spec = raw_asset_spec("PowerSystemRightNow")
    check = completeness_check(spec)
    definitions = dg.Definitions(assets=[spec], asset_checks=[check],
                                 resources={"warehouse": WarehouseResource(path=str(warehouse.path))},
                                 jobs=[dg.define_asset_job("check", selection=dg.AssetSelection.checks(check))])
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = definitions.resolve_job_def("check").execute_in_process(instance=instance)
    [evaluation] = result.get_asset_check_evaluations()
    assert not evaluation.passed
    landing = evaluation.metadata["landing"].value
    assert "landing stalled since" in landing and "warehouse lock held for 600s" in landing


def test_the_quality_sensor_turns_the_check_red_for_a_stalled_consumer_without_a_run(warehouse, tmp_path):
    """The checks every 15 minutes come from `quality_sensor`'s tick (no run process): it must
    report the same red check, naming the stall, as the check run above."""
    import dagster as dg

    from energy_orchestration.assets.quality import quality_sensor
    from energy_orchestration.resources import WarehouseResource

    with warehouse.connect():
        pass
    HealthRecorder(warehouse.path, "group").failed("WarehouseBusy: warehouse lock held for 600s")
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        context = dg.build_sensor_context(instance=instance,
                                          resources={"warehouse": WarehouseResource(path=str(warehouse.path))})
        result = quality_sensor(context)
        assert instance.get_runs_count() == 0
    evaluations = {(e.asset_key.to_user_string(), e.check_name): e for e in result.asset_events}
    psrn = evaluations[("raw/powersystemrightnow", "complete_trailing_window")]
    assert not psrn.passed and "landing stalled since" in psrn.metadata["landing"].value
    assert "raw/powersystemrightnow:complete_trailing_window" in result.skip_reason.skip_message.split("failing: ")[1]
