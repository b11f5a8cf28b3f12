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
from energy_orchestration.warehouse.quality import rejection_summary

MAX_REJECTED_SHARE_PCT = 1.0
"""Above this share of records refused in 24 h, the check fails (WARN): something changed upstream."""


def quarantine_check(spec: dg.AssetSpec) -> dg.AssetChecksDefinition:
    dataset = spec.metadata["dataset"]

    @dg.asset_check(asset=spec.key, name="quarantine_last_24h",
                    description=(f"Counts of {dataset} input refused in the last 24 hours, per stage and rule "
                                 f"(see the `quarantine` table for reasons and payloads). Fails (WARN) above "
                                 f"{MAX_REJECTED_SHARE_PCT:g} % of records."))
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.get().connect(read_only=True) as connection:
            summary = rejection_summary(connection, dataset)
        return dg.AssetCheckResult(
            passed=summary.rejected_share_pct <= MAX_REJECTED_SHARE_PCT, severity=dg.AssetCheckSeverity.WARN,
            metadata={"records_landed": summary.records, "records_rejected": summary.records_rejected,
                      "values_rejected": summary.values_rejected, "schema_warnings": summary.schema_warnings,
                      "rejected_share_pct": dg.MetadataValue.float(round(summary.rejected_share_pct, 3)),
                      "by_rule": dg.MetadataValue.md(markdown_preview(summary.by_rule, "nothing refused"))})

    return _check


def completeness_check(spec: dg.AssetSpec) -> dg.AssetChecksDefinition:
    dataset = spec.metadata["dataset"]
    hours = settings.get_int("ENERGY_GAP_REPAIR_HOURS")

    @dg.asset_check(asset=spec.key, name="complete_trailing_window",
                    description=(f"Every field of {dataset} (zone, quantity) has every interval of the last {hours} "
                                 "hours that the provider must have published, or its refused value is in "
                                 "quarantine. `gap_repair_sensor` re-fetches what is missing."))
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        end = due_end(dataset, utc_now())
        with warehouse.get().connect(read_only=True) as connection:
            result = completeness_result(connection, "complete_trailing_window", spec.key,
                                         end - timedelta(hours=hours), end, datasets=[dataset])
        # a stalled consumer is the cause to name, not a count of missing intervals
        landing = describe_landing(read_landing_health(warehouse.get().path), utc_now().replace(tzinfo=None))
        return result._replace(passed=result.passed and landing["ok"],
                               metadata={**result.metadata, "landing": landing["message"]})

    return _check


QUARANTINE_CHECKS = [quarantine_check(spec) for spec in RAW_ASSETS]
COMPLETENESS_CHECKS = [completeness_check(spec) for spec in RAW_ASSETS]
quality_job = dg.define_asset_job("raw_quality_job",
                                  selection=dg.AssetSelection.checks(*QUARANTINE_CHECKS, *COMPLETENESS_CHECKS))
quality_schedule = dg.ScheduleDefinition(job=quality_job, cron_schedule="*/15 * * * *",
                                         default_status=dg.DefaultScheduleStatus.RUNNING)
