"""When maintenance runs: the run cleanup daily and the DuckLake compaction hourly, at quiet minutes
(no hourly aggregate, no quarter-hour check)."""


import dagster as dg

from energy_orchestration import settings
from energy_orchestration.maintenance.jobs import lake_maintenance_job, run_cleanup_job

run_cleanup_schedule = dg.ScheduleDefinition(job=run_cleanup_job, cron_schedule="37 3 * * *", execution_timezone="UTC",
                                             default_status=dg.DefaultScheduleStatus.RUNNING)

lake_maintenance_schedule = dg.ScheduleDefinition(
    job=lake_maintenance_job, cron_schedule="23 * * * *", execution_timezone="UTC",
    default_status=(dg.DefaultScheduleStatus.RUNNING if settings.get("ENERGY_WAREHOUSE_URL")
                    else dg.DefaultScheduleStatus.STOPPED))
"""Hourly at a quiet minute (not :00/:15/:30/:45): about 60 micro-batch files per table are merged each time.
Running only when the warehouse is DuckLake: on the single file the job has nothing to do, and
an hourly no-op run would only add noise (it can still be started by hand)."""
