"""Maintenance as Dagster jobs, thin shells over plain functions: the daily run cleanup
(:func:`cleanup.delete_old_runs`) and the hourly DuckLake compaction (:func:`lake.maintain_lake`)."""


from datetime import timedelta

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.maintenance.cleanup import delete_old_runs
from energy_orchestration.maintenance.lake import maintain_lake
from energy_orchestration.model import utc_now
from energy_orchestration.resources import WarehouseResource


class RunCleanupConfig(dg.Config):
    retention_days: int = settings.get_int("ENERGY_RUN_RETENTION_DAYS")
    """Finished runs created more than this many days ago are deleted (launchpad can override)."""
    batch_size: int = 200


@dg.op(description="Delete finished runs older than the retention age, with their event logs and compute logs.")
def delete_old_runs_op(context: dg.OpExecutionContext, config: RunCleanupConfig) -> None:
    stats = delete_old_runs(context.instance, timedelta(days=config.retention_days), utc_now(),
                            batch_size=config.batch_size)
    context.log.info(stats.summary())
    context.add_output_metadata({"runs_deleted": stats.runs_deleted, "events_deleted": stats.events_deleted,
                                 "in_flight_kept": stats.in_flight_kept, "cutoff": stats.cutoff.isoformat()})


@dg.job(executor_def=dg.in_process_executor, tags={"energy/kind": "maintenance"},
        description=("Keeps the Dagster instance's storage bounded: deletes finished runs older than "
                     "ENERGY_RUN_RETENTION_DAYS (never runs in flight)."))
def run_cleanup_job() -> None:
    delete_old_runs_op()


class LakeMaintenanceConfig(dg.Config):
    snapshot_retention_hours: int = settings.get_int("ENERGY_LAKE_SNAPSHOT_RETENTION_HOURS")
    """DuckLake snapshots older than this many hours are expired (launchpad can override)."""


@dg.op(description=("DuckLake: merge small Parquet files, expire snapshots older than the "
                    "retention and delete the files no snapshot needs; a no-op on the single DuckDB file."))
def maintain_lake_op(context: dg.OpExecutionContext, config: LakeMaintenanceConfig,
                     warehouse: WarehouseResource) -> None:
    report = maintain_lake(warehouse.get(), timedelta(hours=config.snapshot_retention_hours))
    context.log.info(report.summary())
    context.add_output_metadata(report.metadata())


@dg.job(executor_def=dg.in_process_executor, tags={"energy/kind": "maintenance"},
        description=("Keeps a DuckLake warehouse fast and bounded: compacts the minute micro-batches' small files, "
                     "expires snapshots older than ENERGY_LAKE_SNAPSHOT_RETENTION_HOURS, deletes unreferenced files."))
def lake_maintenance_job() -> None:
    maintain_lake_op()
