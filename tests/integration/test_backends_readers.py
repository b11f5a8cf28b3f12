"""The readers run unchanged on both backends: a Dagster aggregate build with its check, a raw
asset's quality check, the HTTP API's reads and ``energy status``, over data landed by the real consumer."""

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import requests

from energy_orchestration.assets.aggregates import zone_hourly
from energy_orchestration.assets.partitions import hour_key
from energy_orchestration.ingest import Window, fetch_and_publish
from energy_orchestration.resources import WarehouseResource
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.warehouse.status import warehouse_status
from tests.integration.serving_support import start_api

pytestmark = pytest.mark.integration

HOUR = datetime(2025, 6, 1, 10, tzinfo=timezone.utc)


@pytest.fixture
def warehouse(any_warehouse):
    """Both backends (tests/warehouse_backends.py); ``land_all`` lands into it."""
    return any_warehouse


def test_dagster_checks_the_api_and_status_read_the_same_on_each_backend(tmp_path, standin, bootstrap, warehouse,
                                                                          land_all):
    fetch_and_publish(EnergiDataServiceClient(standin.url), bootstrap,
                      Window("PowerSystemRightNow", HOUR, HOUR + timedelta(hours=2)))
    land_all()
    keys = [hour_key(HOUR.replace(tzinfo=None)), hour_key((HOUR + timedelta(hours=1)).replace(tzinfo=None))]
    # the resource as deployed: path only, the backend from ENERGY_WAREHOUSE_URL (set by the fixture)
    resources = {"warehouse": WarehouseResource(path=str(warehouse.path))}
    assert type(resources["warehouse"].get()) is type(warehouse)
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([zone_hourly], instance=instance, resources=resources,
                                tags={"dagster/asset_partition_range_start": keys[0],
                                      "dagster/asset_partition_range_end": keys[1]})
    assert result.success
    [materialization] = result.asset_materializations_for_node("agg__zone_hourly")[:1]
    assert materialization.metadata["dagster/row_count"].value == 2 * 3  # DK, DK1, DK2 per hour
    [check] = result.get_asset_check_evaluations()
    assert check.passed and check.metadata["missing_field_intervals"].value == 0

    # the raw assets' quality checks, as the raw_quality_job runs them
    from energy_orchestration.assets.quality import QUARANTINE_CHECKS

    [quarantine] = [c for c in QUARANTINE_CHECKS
                    if "powersystemrightnow" in next(iter(c.check_keys)).asset_key.to_user_string().lower()]
    verdict = quarantine(warehouse=resources["warehouse"])
    assert verdict.metadata["records_landed"].value == 120  # two hours of minutes, from the warehouse

    server = start_api(warehouse, None)
    try:
        hourly = requests.get(f"{server.url}/api/v1/zones/DK-DK1/aggregates/hourly",
                              params={"from": "2025-06-01", "to": "2025-06-01"}, timeout=30)
        assert hourly.status_code == 200, hourly.text
        assert [row["coverage_pct"] for row in hourly.json()["items"]] == [100.0, 100.0]
        observations = requests.get(f"{server.url}/api/v1/zones/DK-DK1/observations",
                                    params={"from": "2025-06-01T10:00:00Z", "to": "2025-06-01T12:00:00Z",
                                            "limit": 1000}, timeout=30)
        assert observations.status_code == 200, observations.text
        with warehouse.connect(read_only=True) as db:
            stored = db.execute("SELECT count(*) FROM observations WHERE zone = 'DK-DK1'").fetchall()[0][0]
        assert stored > 0 and len(observations.json()["items"]) == min(stored, 1000)
    finally:
        server.__exit__(None, None, None)

    status = warehouse_status(warehouse)
    assert "Duplicate natural keys: 0" in status and "| PowerSystemRightNow |" in status
    assert warehouse.location.split(" ")[0] in status.splitlines()[0]
