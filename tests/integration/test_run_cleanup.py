"""The run cleanup on a real Dagster instance (SQLite storage in a temporary DAGSTER_HOME).

Runs are executed for real; "old" is reached by handing the cleanup a later clock (``now``),
and, for the job itself, by importing runs with an explicit creation time
(``RunStorage.add_historical_run``).
"""

import shutil
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest

from energy_orchestration.demo import DAGSTER_YAML
from energy_orchestration.maintenance.cleanup import delete_old_runs
from energy_orchestration.maintenance.jobs import run_cleanup_job
from energy_orchestration.maintenance.schedules import run_cleanup_schedule

pytestmark = pytest.mark.integration

WEEK = timedelta(days=7)


@dg.op
def say_hello() -> None:
    print("hello from a run")  # captured into the run's compute logs


@dg.job
def tiny_job() -> None:
    say_hello()


@dg.op
def break_down() -> None:
    raise RuntimeError("boom")


@dg.job
def failing_job() -> None:
    break_down()


@dg.asset
def tiny_asset() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": 1})


@dg.asset_check(asset=tiny_asset)
def tiny_check() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@pytest.fixture
def home(tmp_path) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    return home


@pytest.fixture
def instance(home):
    created = dg.DagsterInstance.from_config(str(home))
    yield created
    created.dispose()


def shard(home: Path, run_id: str) -> Path:
    return home / "history" / "runs" / f"{run_id}.db"


def compute_logs(home: Path, run_id: str) -> Path:
    return home / "storage" / run_id


def in_flight_run(instance, status: dg.DagsterRunStatus, created: datetime | None = None) -> str:
    run = dg.DagsterRun(job_name="tiny_job", run_id=str(uuid.uuid4()), status=status)
    if created is None:
        instance.add_run(run)
    else:
        instance.run_storage.add_historical_run(run, created)
    return run.run_id


def materialisation_runs(instance) -> list[str]:
    records = instance.fetch_materializations(tiny_asset.key, limit=100).records
    return [r.run_id for r in records]


def check_runs(instance) -> list[str]:
    history = instance.event_log_storage.get_asset_check_execution_history(tiny_check.check_key, limit=100)
    return [r.run_id for r in history]


def test_old_finished_runs_go_with_their_logs_recent_and_in_flight_ones_stay(home, instance):
    old = [tiny_job.execute_in_process(instance=instance).run_id for _ in range(2)]
    old.append(failing_job.execute_in_process(instance=instance, raise_on_error=False).run_id)
    old.append(dg.materialize([tiny_asset, tiny_check], instance=instance).run_id)
    stuck = [in_flight_run(instance, dg.DagsterRunStatus.STARTED),
             in_flight_run(instance, dg.DagsterRunStatus.STARTING)]
    boundary = datetime.now(timezone.utc)
    recent = [tiny_job.execute_in_process(instance=instance).run_id,
              dg.materialize([tiny_asset, tiny_check], instance=instance).run_id]
    old_events = sum(len(instance.all_logs(run_id)) for run_id in old)
    assert all(shard(home, r).exists() and compute_logs(home, r).is_dir() for r in old + recent)
    assert len(materialisation_runs(instance)) == len(check_runs(instance)) == 2

    stats = delete_old_runs(instance, WEEK, now=boundary + WEEK, batch_size=2)  # two runs per batch

    assert (stats.runs_deleted, stats.events_deleted, stats.event_shards_deleted, stats.check_executions_deleted,
            stats.in_flight_kept) == (4, old_events, 4, 1, 2)
    assert "deleted 4 finished runs" in stats.summary() and "kept 2 older runs still in flight" in stats.summary()
    for run_id in old:
        assert instance.get_run_by_id(run_id) is None
        assert not shard(home, run_id).exists() and not compute_logs(home, run_id).exists()
        assert instance.all_logs(run_id) == []
    for run_id in recent:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        assert instance.all_logs(run_id) and compute_logs(home, run_id).is_dir()
    assert {instance.get_run_by_id(r).status for r in stuck} == {dg.DagsterRunStatus.STARTED,
                                                                  dg.DagsterRunStatus.STARTING}
    # the asset's history keeps the materialisation of the run inside the retention window
    assert materialisation_runs(instance) == [recent[1]]
    assert instance.get_latest_materialization_event(tiny_asset.key).run_id == recent[1]
    assert check_runs(instance) == [recent[1]]  # no check execution left pointing at a deleted run


def sqlite_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_storage_stays_bounded_over_repeated_days_of_runs_and_cleanups(home, instance):
    """Each cycle is a "day" of runs followed by the daily cleanup; storage returns to the same size."""
    history = home / "history"
    sizes = []
    for _ in range(4):
        for _ in range(6):
            tiny_job.execute_in_process(instance=instance)
        dg.materialize([tiny_asset, tiny_check], instance=instance)
        stats = delete_old_runs(instance, WEEK, now=datetime.now(timezone.utc) + WEEK + timedelta(seconds=1))
        assert stats.runs_deleted == 7
        assert sqlite_rows(history / "runs.db", "runs") == 0
        assert sqlite_rows(history / "runs.db", "run_tags") == 0
        assert sqlite_rows(history / "runs" / "index.db", "event_logs") == 0
        assert sqlite_rows(history / "runs" / "index.db", "asset_check_executions") == 0
        assert [p.name for p in (history / "runs").glob("*.db")] == ["index.db"]
        assert not any((home / "storage").iterdir())
        sizes.append(((history / "runs.db").stat().st_size, (history / "runs" / "index.db").stat().st_size))
    # SQLite reuses the pages freed by the previous cleanup: the files stop growing
    assert sizes[-1] == sizes[1], sizes


def test_the_cleanup_job_deletes_imported_old_runs_and_logs_a_status_line(instance):
    ten_days_ago = datetime.now(timezone.utc) - timedelta(days=10)
    old = dg.DagsterRun(job_name="tiny_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.SUCCESS)
    instance.run_storage.add_historical_run(old, ten_days_ago)
    stuck = in_flight_run(instance, dg.DagsterRunStatus.STARTED, created=ten_days_ago)
    recent = tiny_job.execute_in_process(instance=instance).run_id

    result = run_cleanup_job.execute_in_process(instance=instance)

    assert result.success
    assert instance.get_run_by_id(old.run_id) is None
    assert instance.get_run_by_id(stuck) is not None and instance.get_run_by_id(recent) is not None
    messages = [e.message for e in instance.all_logs(result.run_id)]
    assert any(m.startswith("run cleanup: deleted 1 finished runs") and "kept 1 older runs still in flight" in m
               for m in messages), messages


def test_the_cleanup_is_scheduled_daily_and_on_by_default():
    assert run_cleanup_schedule.cron_schedule == "37 3 * * *"
    assert run_cleanup_schedule.execution_timezone == "UTC"
    assert run_cleanup_schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_a_non_positive_age_is_refused(instance):
    with pytest.raises(ValueError, match="positive"):
        delete_old_runs(instance, timedelta(0), datetime.now(timezone.utc))
