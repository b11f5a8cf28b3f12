"""Hourly aggregates per (dataset, zone, quantity): a thin shell over warehouse.aggregates."""


import dagster as dg

from energy_orchestration import settings
from energy_orchestration.assets.metadata import markdown_preview
from energy_orchestration.assets.pools import WAREHOUSE_POOL
from energy_orchestration.assets.raw import RAW_ASSETS
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.warehouse.aggregates import build_hourly

HOURLY_PARTITIONS = dg.HourlyPartitionsDefinition(start_date=f"{settings.get('ENERGY_PARTITIONS_START')}-00:00",
                                                  timezone="UTC")


@dg.asset(
    key=["agg", "hourly"],
    deps=[a.key for a in RAW_ASSETS],
    partitions_def=HOURLY_PARTITIONS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="aggregates",
    kinds={"duckdb", "sql"},
    owners=["team:platform"],
    description=("Per dataset, zone, quantity and UTC hour: mean/min/max value, energy in MWh (MW quantities), "
                 "minutes present vs expected. CO2 intensity is the quantity `co2_intensity_reported`. "
                 "Rebuilding a partition replaces it; a backfill over many hours runs as one SQL statement."),
    metadata={"dagster/table_name": "agg_hourly"},
    pool=WAREHOUSE_POOL,
)
def agg_hourly(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    window = context.partition_time_window
    with warehouse.get().transaction() as connection:
        stats = build_hourly(connection, window.start.replace(tzinfo=None), window.end.replace(tzinfo=None))
        preview = connection.execute("""
            SELECT zone, quantity, round(mean_value, 1) AS mean, round(energy_mwh, 1) AS mwh,
                   minutes_present || '/' || minutes_expected AS minutes
            FROM agg_hourly WHERE hour_start_utc >= ? AND hour_start_utc < ?
            ORDER BY hour_start_utc DESC, zone, quantity LIMIT 12
        """, [window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)]).df()
    return dg.MaterializeResult(metadata={
        "dagster/row_count": stats.rows,
        "zones": stats.zones,
        "hours_with_data": stats.hours_with_data,
        "coverage_pct": dg.MetadataValue.float(round(stats.coverage_pct, 2)),
        "preview": dg.MetadataValue.md(markdown_preview(preview)),
    })


@dg.asset_check(asset=agg_hourly, description=("Every (dataset, zone, quantity) built for the last 24 hours has "
                                                "all of its minutes; lists the hours that do not."))
def agg_hourly_complete(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().connect(read_only=True) as connection:
        rows = connection.execute("""
            SELECT dataset, zone, quantity, hour_start_utc, minutes_present, minutes_expected
            FROM agg_hourly
            WHERE minutes_present < minutes_expected AND hour_start_utc >= now()::TIMESTAMP - INTERVAL 24 HOUR
            ORDER BY hour_start_utc DESC LIMIT 200
        """).fetchall()
        total = connection.execute(
            "SELECT count(*) FROM agg_hourly WHERE hour_start_utc >= now()::TIMESTAMP - INTERVAL 24 HOUR").fetchall()[0][0]
    incomplete = [f"{r[0]} {r[1]} {r[2]} {r[3]:%Y-%m-%d %H:00}: {r[4]}/{r[5]} min" for r in rows]
    return dg.AssetCheckResult(
        passed=not incomplete, severity=dg.AssetCheckSeverity.WARN,
        metadata={"incomplete_rows": len(incomplete), "rows_checked": total,
                  "examples": dg.MetadataValue.md("\n".join(f"- {x}" for x in incomplete[:20]) or "none")})


hourly_job = dg.define_asset_job("agg_hourly_job", selection=[agg_hourly])
hourly_schedule = dg.build_schedule_from_partitioned_job(hourly_job, minute_of_hour=5,
                                                         default_status=dg.DefaultScheduleStatus.RUNNING)
