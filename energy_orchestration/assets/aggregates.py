"""Wide per-zone aggregate tables: a thin shell over warehouse.aggregates and completeness.

Every asset here supports single-run backfills (a range is one SQL statement) and reports a
completeness check in the same run, so a backfilled partition shows whether it is whole.
"""

from datetime import date, datetime, timedelta, timezone

import dagster as dg
import duckdb
import pandas as pd

from energy_orchestration.assets.keys import ZONE_DAILY_KEY, ZONE_HOURLY_KEY
from energy_orchestration.assets.partitions import HOURLY, PERIOD_PARTITIONS
from energy_orchestration.assets.pools import WAREHOUSE_POOL
from energy_orchestration.assets.raw import RAW_ASSETS
from energy_orchestration.markdown import markdown_preview
from energy_orchestration.model import utc_now
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.warehouse.aggregates import BuildStats, build_zone_hourly, build_zone_periods
from energy_orchestration.warehouse.completeness import completeness_summary, missing_intervals
from energy_orchestration.warehouse.schema import PERIOD_KEYS, PERIOD_TABLES, measure_columns

COMMON_COLUMNS = [dg.TableColumn(name, "DOUBLE") for name in measure_columns()]


def _schema(*leading: tuple[str, str, str]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(n, t, description=d) for n, t, d in leading] + COMMON_COLUMNS)


def _naive_utc(moment: datetime) -> datetime:
    """Partition windows are aware (UTC or local); warehouse timestamps are naive UTC."""
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def completeness_result(connection, check_name: str, asset_key: dg.AssetKey, start_utc: datetime,
                        end_utc: datetime, datasets: list[str] | None = None) -> dg.AssetCheckResult:
    """Per field: every expected interval in the window landed, or was refused with a reason."""
    missing = missing_intervals(connection, start_utc, end_utc, datasets) if end_utc > start_utc else pd.DataFrame()
    summary = completeness_summary(missing)
    unexplained = int(summary["missing"].sum()) if not summary.empty else 0
    refused = int(summary["refused"].sum()) if not summary.empty else 0
    failures = [f"{unexplained} expected field-intervals never landed"] if unexplained else []
    return dg.AssetCheckResult(
        asset_key=asset_key, check_name=check_name, passed=not failures,
        metadata={"window_utc": f"[{start_utc:%Y-%m-%d %H:%M}, {end_utc:%Y-%m-%d %H:%M})",
                  "missing_field_intervals": unexplained, "refused_field_intervals": refused,
                  "failures": dg.MetadataValue.md("\n".join(f"- {f}" for f in failures) or "none"),
                  "incomplete_fields": dg.MetadataValue.md(markdown_preview(
                      summary[summary["missing"] > 0].head(20) if not summary.empty else summary, "none"))})


def build_metadata(stats: BuildStats, preview: pd.DataFrame, periods_label: str) -> dict[str, object]:
    """What the UI shows for a build: rows, zones, periods, coverage and a few rows."""
    return {"dagster/row_count": stats.rows, "zones": stats.zones, periods_label: stats.periods,
            "coverage_pct": dg.MetadataValue.float(round(stats.coverage_pct, 2)),
            "preview": dg.MetadataValue.md(markdown_preview(preview))}


@dg.asset(
    key=ZONE_HOURLY_KEY,
    deps=[a.key for a in RAW_ASSETS],
    partitions_def=HOURLY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=WAREHOUSE_POOL,
    freshness_policy=dg.FreshnessPolicy.time_window(warn_window=timedelta(minutes=90),
                                                    fail_window=timedelta(hours=3)),
    group_name="aggregates",
    kinds={"duckdb", "sql"},
    owners=["team:platform"],
    check_specs=[dg.AssetCheckSpec("complete", asset=ZONE_HOURLY_KEY, description=(
        "Every field (dataset, zone, quantity) has every interval of the built hours, or its refused value "
        "is in quarantine with a reason."))],
    description=("One row per zone and UTC hour (partitions are the same hours on the local calendar): "
                 "mean MW per quantity (production by mode, consumption, "
                 "exchanges, …), CO2 intensity reported and computed (production-weighted emission factors), "
                 "renewable share, energy in MWh, and coverage. Each field comes from one dataset "
                 "(`DATASET_PRECEDENCE`). Rebuilt by the landing sensor when rows land in a closed hour."),
    metadata={"dagster/table_name": "zone_hourly",
              "dagster/column_schema": _schema(("zone", "VARCHAR", "Electricity Maps zone id"),
                                               ("hour_start_utc", "TIMESTAMP", "UTC hour"),
                                               ("local_date", "DATE", "zone-local date of the hour"))},
)
def zone_hourly(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
    window = context.partition_time_window
    start, end = _naive_utc(window.start), _naive_utc(window.end)

    def build(connection: duckdb.DuckDBPyConnection) -> tuple[BuildStats, pd.DataFrame]:
        return build_zone_hourly(connection, start, end, run_id=context.run.run_id), connection.execute("""
            SELECT zone, hour_start_utc, round(production_total) AS production_mw, round(consumption) AS consumption_mw,
                   round(co2_intensity_computed) AS co2_computed, round(renewable_share_pct, 1) AS renewable_pct,
                   round(coverage_pct, 1) AS coverage_pct
            FROM zone_hourly WHERE hour_start_utc >= ? AND hour_start_utc < ?
            ORDER BY hour_start_utc DESC, zone LIMIT 12
        """, [start, end]).df()

    # claimed per table: two builds of it never both insert the same rows (DuckLake; see write())
    stats, preview = warehouse.get().write(build, what=f"building zone_hourly {start:%Y-%m-%d %H:%M}",
                                           claim="zone_hourly")
    context.log.info(f"zone_hourly [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M}): {stats.rows} rows, "
                     f"{stats.zones} zones, coverage {stats.coverage_pct:.1f} %")
    yield dg.MaterializeResult(metadata=build_metadata(stats, preview, "hours_with_data"))
    with warehouse.get().connect(read_only=True) as connection:
        yield completeness_result(connection, "complete", ZONE_HOURLY_KEY, start, end)


def period_asset(grain: str) -> dg.AssetsDefinition:
    """zone_daily / zone_weekly / zone_monthly: the same shape, a different calendar unit."""
    table, key_column = PERIOD_TABLES[grain], PERIOD_KEYS[grain]
    asset_key = dg.AssetKey(["agg", table])
    upstream = ZONE_HOURLY_KEY if grain == "daily" else ZONE_DAILY_KEY

    @dg.asset(
        key=asset_key,
        deps=[upstream],
        partitions_def=PERIOD_PARTITIONS[grain],
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=WAREHOUSE_POOL,
        group_name="aggregates",
        kinds={"duckdb", "sql"},
        owners=["team:platform"],
        check_specs=[dg.AssetCheckSpec("complete", asset=asset_key, description=(
            "Every field (dataset, zone, quantity) has every interval of the local period so far (23 or 25 "
            "hours on DST days), or its refused value is in quarantine. Hours present vs expected per zone "
            "are in the materialisation's preview."))],
        description=(f"One row per zone and local {grain.removesuffix('ly') if grain != 'daily' else 'day'} "
                     f"(`{key_column}`, the zone's own calendar): hour-weighted mean MW per quantity, energy "
                     "in MWh, CO2 intensity computed weighted by production, renewable share of energy, hours "
                     "present vs expected and coverage."),
        metadata={"dagster/table_name": table,
                  "dagster/column_schema": _schema(("zone", "VARCHAR", "Electricity Maps zone id"),
                                                   (key_column, "DATE", "first local day of the period"),
                                                   ("hours_expected", "INTEGER", "23/24/25 per day on DST"))},
    )
    def _period(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        window = context.partition_time_window
        first: date = window.start.date()
        last: date = (window.end - timedelta(days=1)).date()
        start_utc = _naive_utc(window.start)
        end_utc = min(_naive_utc(window.end), _naive_utc(utc_now()).replace(minute=0, second=0, microsecond=0))

        def build(connection: duckdb.DuckDBPyConnection) -> tuple[BuildStats, pd.DataFrame]:
            stats = build_zone_periods(connection, grain, first, last, run_id=context.run.run_id)
            return stats, connection.execute(f"""
                SELECT zone, {key_column}, hours_present || '/' || hours_expected AS hours,
                       round(production_mwh) AS production_mwh, round(consumption_mwh) AS consumption_mwh,
                       round(co2_intensity_computed) AS co2_computed, round(renewable_share_pct, 1) AS renewable_pct
                FROM {table} WHERE {key_column} BETWEEN ? AND ? ORDER BY {key_column} DESC, zone LIMIT 12
            """, [first, last]).df()

        stats, preview = warehouse.get().write(build, what=f"building {table} {first} .. {last}", claim=table)
        context.log.info(f"{table} {first} .. {last}: {stats.rows} rows, coverage {stats.coverage_pct:.1f} %")
        yield dg.MaterializeResult(metadata=build_metadata(stats, preview, "periods_with_data"))
        with warehouse.get().connect(read_only=True) as connection:
            yield completeness_result(connection, "complete", asset_key, start_utc, end_utc)

    return _period


zone_daily, zone_weekly, zone_monthly = (period_asset(grain) for grain in PERIOD_TABLES)
AGGREGATE_ASSETS = [zone_hourly, zone_daily, zone_weekly, zone_monthly]

zone_hourly_job = dg.define_asset_job("zone_hourly_job", selection=[zone_hourly])
PERIOD_JOBS = {grain: dg.define_asset_job(f"{PERIOD_TABLES[grain]}_job", selection=[asset])
               for grain, asset in zip(PERIOD_TABLES, (zone_daily, zone_weekly, zone_monthly), strict=False)}
