"""What each dataset lost to validation, visible in the Dagster UI as asset checks on the raw assets."""

from datetime import timedelta

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.assets.aggregates import completeness_result
from energy_orchestration.assets.raw import RAW_ASSETS
from energy_orchestration.ingest import due_end
from energy_orchestration.markdown import markdown_preview
from energy_orchestration.model import utc_now
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.streaming.health import describe as describe_landing
from energy_orchestration.streaming.health import read_health as read_landing_health
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.quality import rejection_summary

MAX_REJECTED_SHARE_PCT = 1.0
"""Above this share of records refused in 24 h, the check fails (WARN): something changed upstream."""


def quarantine_result(warehouse: Warehouse, dataset: str) -> dg.AssetCheckResult:
    """The ``quarantine_last_24h`` check's result; shared by the check (manual `raw_quality_job`
    runs) and `quality_sensor` (every 15 minutes, in the warm code server: no run process)."""
    with warehouse.connect(read_only=True) as connection:
        summary = rejection_summary(connection, dataset)
    return dg.AssetCheckResult(
        passed=summary.rejected_share_pct <= MAX_REJECTED_SHARE_PCT, severity=dg.AssetCheckSeverity.WARN,
        metadata={"records_landed": summary.records, "records_rejected": summary.records_rejected,
                  "values_rejected": summary.values_rejected, "schema_warnings": summary.schema_warnings,
                  "rejected_share_pct": dg.MetadataValue.float(round(summary.rejected_share_pct, 3)),
                  "by_rule": dg.MetadataValue.md(markdown_preview(summary.by_rule, "nothing refused"))})


def completeness_check_result(warehouse: Warehouse, spec: dg.AssetSpec) -> dg.AssetCheckResult:
    """The ``complete_trailing_window`` check's result (shared like :func:`quarantine_result`)."""
    dataset = spec.metadata["dataset"]
    end = due_end(dataset, utc_now())
    with warehouse.connect(read_only=True) as connection:
        result = completeness_result(connection, "complete_trailing_window", spec.key,
                                     end - timedelta(hours=settings.get_int("ENERGY_GAP_REPAIR_HOURS")), end,
                                     datasets=[dataset])
    # a stalled consumer is the cause to name, not a count of missing intervals
    landing = describe_landing(read_landing_health(warehouse.path), utc_now().replace(tzinfo=None))
    return result._replace(passed=result.passed and landing["ok"],
                           metadata={**result.metadata, "landing": landing["message"]})


def quarantine_check(spec: dg.AssetSpec) -> dg.AssetChecksDefinition:
    dataset = spec.metadata["dataset"]

    @dg.asset_check(asset=spec.key, name="quarantine_last_24h",
                    description=(f"Counts of {dataset} input refused in the last 24 hours, per stage and rule "
                                 f"(see the `quarantine` table for reasons and payloads). Fails (WARN) above "
                                 f"{MAX_REJECTED_SHARE_PCT:g} % of records."))
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return quarantine_result(warehouse.get(), dataset)

    return _check


def completeness_check(spec: dg.AssetSpec) -> dg.AssetChecksDefinition:
    dataset = spec.metadata["dataset"]
    hours = settings.get_int("ENERGY_GAP_REPAIR_HOURS")

    @dg.asset_check(asset=spec.key, name="complete_trailing_window",
                    description=(f"Every field of {dataset} (zone, quantity) has every interval of the last {hours} "
                                 "hours that the provider must have published, or its refused value is in "
                                 "quarantine. `gap_repair_sensor` re-fetches what is missing."))
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        return completeness_check_result(warehouse.get(), spec)

    return _check


def quality_evaluations(warehouse: Warehouse) -> list[dg.AssetCheckEvaluation]:
    """Every raw asset's two checks, evaluated as `raw_quality_job` would, as check evaluations a
    sensor reports. Why not the job on a schedule: a run is a new process (≈ 12 CPU-s for these
    few cheap queries, 1.3 % of a core at 4 runs an hour, benchmarks/README.md)."""
    evaluations = []
    for spec in RAW_ASSETS:
        for name, result in (("quarantine_last_24h", quarantine_result(warehouse, spec.metadata["dataset"])),
                             ("complete_trailing_window", completeness_check_result(warehouse, spec))):
            evaluations.append(dg.AssetCheckEvaluation(
                asset_key=spec.key, check_name=name, passed=result.passed, severity=result.severity,
                metadata={**result.metadata, "source": dg.MetadataValue.text("quality_sensor")}))
    return evaluations


QUARANTINE_CHECKS = [quarantine_check(spec) for spec in RAW_ASSETS]
COMPLETENESS_CHECKS = [completeness_check(spec) for spec in RAW_ASSETS]
quality_job = dg.define_asset_job("raw_quality_job",
                                  selection=dg.AssetSelection.checks(*QUARANTINE_CHECKS, *COMPLETENESS_CHECKS))
QUALITY_INTERVAL_SECONDS = 900
"""How often `quality_sensor` evaluates the checks: the 15 minutes the schedule had."""


@dg.sensor(minimum_interval_seconds=QUALITY_INTERVAL_SECONDS, default_status=dg.DefaultSensorStatus.RUNNING,
           description=("Every 15 minutes: evaluates every raw asset's quarantine_last_24h and "
                        "complete_trailing_window checks in the sensor tick (no run; `raw_quality_job` runs the "
                        "same checks on demand)."))
def quality_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    evaluations = quality_evaluations(warehouse.get())
    failing = sorted(f"{e.asset_key.to_user_string()}:{e.check_name}" for e in evaluations if not e.passed)
    summary = (f"{len(evaluations)} checks evaluated; "
               + (f"failing: {', '.join(failing)}" if failing else "all passed"))
    context.log.info(summary)
    return dg.SensorResult(skip_reason=summary, asset_events=evaluations)
