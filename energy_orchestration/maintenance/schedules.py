"""When the run cleanup runs: daily, at a quiet minute (no hourly aggregate, no quarter-hour check)."""


import dagster as dg

from energy_orchestration.maintenance.jobs import run_cleanup_job

run_cleanup_schedule = dg.ScheduleDefinition(job=run_cleanup_job, cron_schedule="37 3 * * *", execution_timezone="UTC",
                                             default_status=dg.DefaultScheduleStatus.RUNNING)
