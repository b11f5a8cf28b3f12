"""energy_orchestration/dagster.yaml loaded into a real Dagster instance: every setting in effect."""

import shutil
import subprocess
import sys

import dagster as dg
import pytest

from energy_orchestration.assets.pools import WAREHOUSE_POOL
from energy_orchestration.definitions import defs
from energy_orchestration.demo import DAEMON_LOOP_SECONDS, DAGSTER_YAML, DemoStack

pytestmark = pytest.mark.integration


@pytest.fixture
def instance(tmp_path):
    """A persistent instance (SQLite storage) in a temporary DAGSTER_HOME, as `energy demo` sets one up."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    created = dg.DagsterInstance.from_config(str(home))
    yield created
    created.dispose()


def test_tick_retention_is_in_effect(instance):
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    sensor = instance.get_tick_retention_settings(InstigatorType.SENSOR)
    assert {s: sensor[s] for s in (TickStatus.SKIPPED, TickStatus.FAILURE, TickStatus.SUCCESS)} == \
        {TickStatus.SKIPPED: 1, TickStatus.FAILURE: 14, TickStatus.SUCCESS: 7}
    schedule = instance.get_tick_retention_settings(InstigatorType.SCHEDULE)
    assert schedule[TickStatus.SUCCESS] == schedule[TickStatus.SKIPPED] == schedule[TickStatus.FAILURE] == 30


def test_only_crashed_runs_are_retried(instance):
    assert instance.run_retries_enabled
    assert instance.run_retries_max_retries == 2
    assert instance.run_retries_retry_on_asset_or_op_failure is False


def test_an_orphaned_fetch_run_is_timed_out_and_then_canceled(instance):
    from energy_orchestration.sensors.fetch import FETCH_MAX_RUNTIME_SECONDS, fetch_job

    assert instance.run_monitoring_enabled
    assert instance.run_monitoring_cancel_timeout_seconds == 60
    assert fetch_job.tags["dagster/max_runtime"] == str(FETCH_MAX_RUNTIME_SECONDS)


def test_run_queue_limits_kept_and_warehouse_pool_limited_to_one(instance):
    config = instance.get_concurrency_config()
    assert config.run_queue_config.max_concurrent_runs == 3
    assert config.run_queue_config.tag_concurrency_limits == [{"key": "energy/kind", "value": "fetch", "limit": 1}]
    assert config.pool_config.default_pool_limit == 1
    assert config.pool_config.pool_granularity.value == "op"


@dg.asset(pool=WAREHOUSE_POOL)
def pooled_asset() -> dg.MaterializeResult:
    return dg.MaterializeResult()


def test_a_step_in_the_warehouse_pool_claims_it_with_limit_one(instance):
    assert dg.materialize([pooled_asset], instance=instance).success
    assert WAREHOUSE_POOL in instance.event_log_storage.get_concurrency_keys()
    info = instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL)
    assert info.slot_count == 1  # the default_limit, applied when the pool was first used
    assert info.active_slot_count == 0  # released when the step finished


def test_every_asset_building_a_duckdb_table_is_in_the_warehouse_pool():
    graph = defs.resolve_asset_graph()
    writers = [graph.get(key) for key in graph.materializable_asset_keys if "duckdb" in graph.get(key).kinds]
    assert writers, "no materializable DuckDB asset found"
    assert {node.key.to_user_string(): node.assets_def.op.pool for node in writers} == \
        {node.key.to_user_string(): WAREHOUSE_POOL for node in writers}


def test_idle_daemon_loops_are_trimmed_but_freshness_and_retries_kept(instance):
    """The loops the demo's idle CPU pays for (benchmarks/README.md): no auto-materialize loop
    (no asset has an automation condition), the run queue read every 10 s; the loops that make
    statuses true (freshness, run monitoring, retries of crashed runs) stay."""
    required = set(instance.get_required_daemon_types())
    assert "ASSET" not in required
    assert {"SENSOR", "SCHEDULER", "QUEUED_RUN_COORDINATOR", "MONITORING", "EVENT_LOG_CONSUMER",
            "FRESHNESS_DAEMON"} <= required
    assert instance.run_coordinator.dequeue_interval_seconds == 10


def test_the_demo_daemon_reads_its_slower_loop_interval(tmp_path, monkeypatch):
    """The loop interval `energy demo` sets is Dagster's own environment knob, read when its daemon
    module loads: a child started with the demo's environment (as the daemon is) sees it, so a
    rename in Dagster fails here instead of silently costing idle CPU again."""
    monkeypatch.delenv("DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS", raising=False)
    stack = DemoStack(state_dir=tmp_path)
    stack.configure()
    probe = "from dagster._daemon.auto_run_reexecution import event_log_consumer as c; print(c._INTERVAL_SECONDS)"
    seen = subprocess.run([sys.executable, "-c", probe], env=stack.env, capture_output=True, text=True,
                          check=True, timeout=120).stdout.split()
    assert seen == [DAEMON_LOOP_SECONDS["DAGSTER_EVENT_LOG_CONSUMER_DAEMON_INTERVAL_SECONDS"]] == ["30"]
