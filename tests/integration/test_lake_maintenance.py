"""DuckLake maintenance for real: micro-batches landed by the real consumer through the embedded
broker into DuckLake on a real PostgreSQL catalog, then compacted and expired by the Dagster job
(in-process): fewer files, the same answers, old snapshots gone. On the file backend: a no-op."""

import threading
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from energy_orchestration.maintenance.jobs import lake_maintenance_job
from energy_orchestration.maintenance.lake import maintain_lake
from energy_orchestration.maintenance.schedules import lake_maintenance_schedule
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.standin.synthetic_dk import power_system_right_now_records
from energy_orchestration.streaming.consumer import LandingConsumer
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic
from tests.warehouse_backends import new_warehouse

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 5, 0, 0)
BATCH = 30  # messages per micro-batch: one snapshot and a few small files per table each


def land_minutes(bootstrap: str, warehouse, group: str, first: int, count: int) -> None:
    """``count`` PowerSystemRightNow minutes from ``START + first`` min, landed in micro-batches."""
    records = power_system_right_now_records(START + timedelta(minutes=first), START + timedelta(minutes=first + count))
    publish_records(bootstrap, raw_topic("PowerSystemRightNow"), "energidataservice", "PowerSystemRightNow", records,
                    lambda r: r["Minutes1UTC"], datetime(2026, 10, 5, 12, tzinfo=timezone.utc))
    LandingConsumer(bootstrap, warehouse, group, batch_max_messages=BATCH, batch_max_seconds=0.2
                    ).run(threading.Event(), idle_exit_seconds=1.5)


def contents(warehouse) -> dict[str, list[tuple]]:
    found = {}
    for table in ("observations", "raw_records", "ingest_log", "quarantine"):
        with warehouse.connect(read_only=True) as db:
            found[table] = db.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    return found


def snapshot_times(warehouse) -> list[tuple[int, datetime]]:
    with warehouse.connect(read_only=True) as db:
        return db.execute("SELECT snapshot_id, snapshot_time FROM ducklake_snapshots('lake') ORDER BY 1").fetchall()


def test_the_job_compacts_micro_batches_and_expires_old_snapshots(bootstrap, isolated_topics, tmp_path, request,
                                                                   monkeypatch):
    warehouse = new_warehouse("ducklake", tmp_path, request, monkeypatch)
    ensure_topics(bootstrap, all_topics(["PowerSystemRightNow"]))
    group = f"{isolated_topics}-landing"
    land_minutes(bootstrap, warehouse, group, 0, 240)
    middle_id, middle_time = snapshot_times(warehouse)[-1]
    land_minutes(bootstrap, warehouse, group, 240, 240)
    landed = contents(warehouse)
    assert len({row[3] for row in landed["observations"]}) >= 480  # every minute is there before we start
    snapshots = snapshot_times(warehouse)
    assert len(snapshots) > 16  # one per micro-batch at least

    # the plain function, with the clock given: snapshots older than the cutoff go, newer ones stay
    partial = maintain_lake(warehouse, timedelta(hours=24), now=middle_time + timedelta(hours=24))
    kept_before_compaction = [s for s in snapshots if s[1] >= middle_time]
    assert partial.snapshots_expired == len(snapshots) - len(kept_before_compaction)
    remaining = [s[0] for s in snapshot_times(warehouse)]
    assert min(remaining) == middle_id
    assert partial.after.live_data_files < partial.before.live_data_files
    assert partial.files_merged > partial.files_created > 0
    assert partial.files_deleted == 0  # the merged-away small files were scheduled after the cutoff: kept for now
    assert contents(warehouse) == landed

    # the Dagster job with a retention of 0 hours: only the newest snapshot remains
    result = lake_maintenance_job.execute_in_process(
        run_config={"ops": {"maintain_lake_op": {"config": {"snapshot_retention_hours": 0}}}},
        resources={"warehouse": WarehouseResource()})
    assert result.success
    metadata = _op_metadata(result)
    print(partial.summary(), metadata["summary"], sep="\n")
    assert metadata["applicable"] is True and metadata["snapshots_after"] == 1
    assert metadata["snapshots_expired"] == metadata["snapshots_before"] - 1
    assert metadata["files_deleted"] > 0 and metadata["bytes_freed"] > 0
    assert metadata["files_on_storage_after"] < partial.before.files_on_storage
    assert contents(warehouse) == landed
    with warehouse.connect(read_only=True) as db:
        with pytest.raises(duckdb.Error):  # time travel to an expired snapshot is no longer possible
            db.execute(f"SELECT count(*) FROM observations AT (VERSION => {middle_id})").fetchall()
    # what the catalog lists is exactly what is on storage (cleanup deleted the files, not just their rows)
    with warehouse.connect() as db:
        listed = db.execute("SELECT count(*) FROM __ducklake_metadata_lake.ducklake_data_file").fetchall()[0][0] + \
            db.execute("SELECT count(*) FROM __ducklake_metadata_lake.ducklake_delete_file").fetchall()[0][0]
    assert listed == metadata["files_on_storage_after"]


def _op_metadata(result) -> dict:
    """The op's output metadata as plain values."""
    for event in result.all_node_events:
        if event.step_key == "maintain_lake_op" and event.event_type_value == "STEP_OUTPUT":
            return {k: v.value for k, v in event.event_specific_data.metadata.items()}
    raise AssertionError("maintain_lake_op reported no output")


def test_on_the_file_backend_the_job_changes_nothing_and_says_so(tmp_path, request, monkeypatch):
    warehouse = new_warehouse("file", tmp_path, request, monkeypatch)
    before = warehouse.path.read_bytes()
    result = lake_maintenance_job.execute_in_process(resources={"warehouse": WarehouseResource()})
    assert result.success
    metadata = _op_metadata(result)
    assert metadata["applicable"] is False and "nothing to do" in metadata["summary"]
    assert str(warehouse.path) in metadata["summary"]
    assert warehouse.path.read_bytes() == before


def test_the_schedule_is_hourly_at_a_quiet_minute():
    assert lake_maintenance_schedule.cron_schedule == "23 * * * *"
    assert lake_maintenance_schedule.execution_timezone == "UTC"
