"""The Dagster code location: `dagster dev -m energy_orchestration.definitions` or workspace.yaml."""


import dagster as dg

from energy_orchestration.assets.hourly import agg_hourly, agg_hourly_complete, hourly_job, hourly_schedule
from energy_orchestration.assets.quality import QUARANTINE_CHECKS, quality_job, quality_schedule
from energy_orchestration.assets.raw import RAW_ASSETS
from energy_orchestration.maintenance.jobs import run_cleanup_job
from energy_orchestration.maintenance.schedules import run_cleanup_schedule
from energy_orchestration.resources import default_resources
from energy_orchestration.sensors.fetch import fetch_job, fetch_sensor

defs = dg.Definitions(
    assets=[*RAW_ASSETS, agg_hourly],
    asset_checks=[agg_hourly_complete, *QUARANTINE_CHECKS],
    jobs=[fetch_job, hourly_job, quality_job, run_cleanup_job],
    sensors=[fetch_sensor],
    schedules=[hourly_schedule, quality_schedule, run_cleanup_schedule],
    resources=default_resources(),
    executor=dg.in_process_executor,
)
