"""What Dagster's own GraphQL API (the UI's) does with a backfill outside the history partitions,
and that `energy backfill` turns it into a sentence. Real Dagster: GraphQL schema in process, the
code location in a real code server process."""

from datetime import date

import dagster as dg
import pytest

from energy_orchestration.backfill import LAUNCH, launch_error

pytestmark = pytest.mark.integration


def test_days_outside_the_partitions_are_refused_by_dagster_and_explained(tmp_path):
    from dagster_graphql.test.utils import define_out_of_process_context, execute_dagster_graphql

    code = tmp_path / "location.py"
    code.write_text("from energy_orchestration.definitions import defs\n")
    answers = {}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance, \
            define_out_of_process_context(str(code), "defs", instance) as context:
        for days in (("2030-01-01", "2030-01-01"), ("2024-06-01", "2024-06-02"), ("2025-01-06", "2025-01-07")):
            params = {"partitionNames": list(dict.fromkeys(days)), "assetSelection": [{"path": ["history", "co2emis"]}]}
            answers[days] = execute_dagster_graphql(context, LAUNCH, {"params": params}).data["launchPartitionBackfill"]
    for days in (("2030-01-01", "2030-01-01"), ("2024-06-01", "2024-06-02")):
        assert answers[days]["__typename"] == "PythonError"
        first, last = (date.fromisoformat(d) for d in days)
        assert launch_error(answers[days], first, last) == (
            f"{first} .. {last} holds days that are not history partitions (ENERGY_PARTITIONS_START .. today); "
            "nothing was launched")
    inside = answers[("2025-01-06", "2025-01-07")]
    assert inside["__typename"] == "LaunchBackfillSuccess"
    assert launch_error(inside, date(2025, 1, 6), date(2025, 1, 7)) is None
