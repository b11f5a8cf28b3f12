"""The Dagster code location: `dagster dev -m energy_orchestration.definitions` or workspace.yaml."""


import dagster as dg

from energy_orchestration.assets.aggregates import AGGREGATE_ASSETS, PERIOD_JOBS, zone_hourly_job
from energy_orchestration.assets.history import HISTORY_ASSETS
from energy_orchestration.assets.quality import COMPLETENESS_CHECKS, QUARANTINE_CHECKS, quality_job, quality_sensor
from energy_orchestration.assets.raw import RAW_ASSETS
from energy_orchestration.maintenance.jobs import lake_maintenance_job, run_cleanup_job
from energy_orchestration.maintenance.schedules import lake_maintenance_schedule, run_cleanup_schedule
from energy_orchestration.resources import default_resources
from energy_orchestration.sensors.fetch import fetch_job, fetch_sensor
from energy_orchestration.sensors.gap_repair import gap_repair_sensor
from energy_orchestration.sensors.landing import landing_sensor, rollup_sensor
from energy_orchestration.sensors.revisit import revisit_schedule

defs = dg.Definitions(
    assets=[*HISTORY_ASSETS, *RAW_ASSETS, *AGGREGATE_ASSETS],
    asset_checks=[*QUARANTINE_CHECKS, *COMPLETENESS_CHECKS],
    jobs=[fetch_job, zone_hourly_job, *PERIOD_JOBS.values(), quality_job, run_cleanup_job, lake_maintenance_job],
    sensors=[fetch_sensor, landing_sensor, rollup_sensor, gap_repair_sensor, quality_sensor],
    schedules=[run_cleanup_schedule, revisit_schedule, lake_maintenance_schedule],
    resources=default_resources(),
    executor=dg.in_process_executor,
)
