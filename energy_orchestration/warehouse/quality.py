"""Queries about refused input (quarantine) per dataset."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import duckdb
import pandas as pd

from energy_orchestration.model import utc_now


@dataclass(frozen=True)
class RejectionSummary:
    records: int              # raw records landed
    records_rejected: int     # whole records refused (record/decode stage)
    values_rejected: int      # single values refused, their record landed
    schema_warnings: int      # records with unknown fields (landed)
    by_rule: pd.DataFrame

    @property
    def rejected_share_pct(self) -> float:
        seen = self.records + self.records_rejected
        return 100.0 * self.records_rejected / seen if seen else 0.0


def rejection_summary(connection: duckdb.DuckDBPyConnection, dataset: str, hours: int = 24) -> RejectionSummary:
    since = utc_now().replace(tzinfo=None) - timedelta(hours=int(hours))  # the platform clock, not SQL now()
    by_rule = connection.execute("""
        SELECT stage, rule, count(*) AS n, any_value(reason) AS example
        FROM quarantine WHERE dataset = ? AND quarantined_at_utc >= ?
        GROUP BY ALL ORDER BY n DESC
    """, [dataset, since]).df()
    records = connection.execute("SELECT count(*) FROM raw_records WHERE dataset = ? AND landed_at_utc >= ?",
                                 [dataset, since]).fetchall()[0][0]
    count = dict(by_rule.groupby("stage")["n"].sum()) if not by_rule.empty else {}
    return RejectionSummary(records=int(records), records_rejected=int(count.get("record", 0)),
                            values_rejected=int(count.get("value", 0)), schema_warnings=int(count.get("schema", 0)),
                            by_rule=by_rule)
