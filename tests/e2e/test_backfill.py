"""A 30-day backfill launched through Dagster's GraphQL API, as the UI launches it, on the real
demo stack (broker, stand-in, consumer, Dagster's code server, webserver and daemon with its sensors)."""

import time
from datetime import date, datetime, timezone

import pytest

from energy_orchestration.assets.history import HISTORY_DATASETS, history_asset_key
from energy_orchestration.backfill import days_built, launch, progress
from energy_orchestration.warehouse import Warehouse
from tests.e2e.demo_process import graphql, running_demo, wait_for

# the whole stack as processes, minutes long on 2 cores: above the suite-wide 300 s timeout
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

FIRST, LAST = date(2025, 1, 6), date(2025, 2, 4)
CHECKS = """
query { assetCheckExecutions(assetKey: {path: ["agg", "zone_daily"]}, checkName: "complete", limit: 100) {
  status evaluation { success } } }
"""


def test_a_30_day_backfill_through_graphql_fills_every_daily_partition(tmp_path):
    with running_demo(tmp_path) as demo_run:
        demo, state, port = demo_run.process, demo_run.state, demo_run.dagster_port
        url = f"http://127.0.0.1:{port}/graphql"
        started = time.time()
        backfill = launch(url, [list(history_asset_key(d).path) for d in HISTORY_DATASETS], FIRST, LAST)
        done = wait_for("the history backfill", lambda: (lambda p: p if p.finished else None)(progress(url, backfill)),
                        600, demo)
        days = (LAST - FIRST).days + 1
        assert done.failed == 0 and done.materialized == done.targeted == days * len(HISTORY_DATASETS), done
        warehouse = Warehouse(state / "warehouse.duckdb")
        since = datetime.fromtimestamp(started, timezone.utc).replace(tzinfo=None)
        wait_for("30 aggregated days", lambda: days_built(warehouse, FIRST, LAST, since) == days, 600, demo)

        def every_day_whole():
            """Days are rebuilt as each dataset lands, so wait for the final state, not the first build."""
            with warehouse.connect(read_only=True) as db:
                per_day = db.execute("""
                    SELECT local_date, count(*) AS zones, min(hours_present) AS least, max(hours_expected) AS most
                    FROM zone_daily WHERE local_date BETWEEN ? AND ? GROUP BY 1 ORDER BY 1""", [FIRST, LAST]).fetchall()
            # Denmark (3 zones) from Energi Data Service, France and its 12 regions from éCO2mix's consolidated sets
            whole = len(per_day) == days and all(z == 16 and lo == hi == 24 for _, z, lo, hi in per_day)
            return per_day if whole else None

        wait_for("every day with 16 zones and 24 hours", every_day_whole, 300, demo)

        def checks_of_the_backfill():
            executions = graphql(port, CHECKS)["assetCheckExecutions"]
            finished = [e for e in executions if e["status"] in ("SUCCEEDED", "FAILED")]
            return finished if len(finished) >= 1 else None

        executions = wait_for("zone_daily check results", checks_of_the_backfill, 120, demo)
        assert all(e["status"] == "SUCCEEDED" for e in executions), executions
    assert demo_run.exit_code == 0, demo_run.log()
