"""DuckLake with its Parquet files on S3 (moto's S3-compatible server on a free loopback port):
landing writes objects there, and readers, including the sandboxed one, read them back."""

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from energy_orchestration.streaming.broker import free_port
from energy_orchestration.warehouse import LANDING_CLAIM, configured_warehouse
from energy_orchestration.warehouse.landing import LandingBatch, land
from tests.warehouse_backends import lake_env

pytestmark = pytest.mark.integration


@pytest.fixture
def s3_bucket():
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="test-key", aws_secret_access_key="test-secret")
        client.create_bucket(Bucket="energy-lake")
        yield client, f"127.0.0.1:{port}"
    finally:
        server.stop()


def test_landing_on_s3_writes_parquet_there_and_reads_back(s3_bucket, lake_postgres, monkeypatch, tmp_path):
    client, endpoint = s3_bucket
    for name, value in {**lake_env(lake_postgres, "s3://energy-lake/warehouse/"),
                        "ENERGY_WAREHOUSE_S3_ENDPOINT": endpoint, "ENERGY_WAREHOUSE_S3_URL_STYLE": "path",
                        "ENERGY_WAREHOUSE_S3_USE_SSL": "0", "ENERGY_WAREHOUSE_S3_ACCESS_KEY_ID": "test-key",
                        "ENERGY_WAREHOUSE_S3_SECRET_ACCESS_KEY": "test-secret"}.items():
        monkeypatch.setenv(name, value)
    warehouse = configured_warehouse(tmp_path / "warehouse.duckdb")
    assert "test-secret" not in repr(warehouse)
    start = datetime(2025, 3, 1)
    frame = pd.DataFrame({  # large enough not to be inlined into the catalog: it must become Parquet
        "dataset": "PowerSystemRightNow", "zone": "DK-DK1", "quantity": "exchange_de",
        "interval_start_utc": pd.to_datetime(start + np.arange(5000) * timedelta(minutes=1)).astype("datetime64[us]"),
        "interval_minutes": np.int16(1), "value": np.arange(5000, dtype=float), "unit": "MW", "status": "realtime",
        "fetched_at_utc": pd.Timestamp("2025-03-05"), "kafka_partition": 0, "kafka_offset": np.arange(5000)})
    warehouse.write(lambda db: land(db, LandingBatch(frame, pd.DataFrame()), datetime(2025, 3, 5)),
                    claim=LANDING_CLAIM)

    objects = [o["Key"] for o in client.list_objects_v2(Bucket="energy-lake").get("Contents", [])]
    assert any(key.startswith("warehouse/") and key.endswith(".parquet") for key in objects), objects
    assert not list((tmp_path).glob("**/*.parquet"))  # nothing written locally instead
    for sandboxed in (False, True):
        with warehouse.connect(read_only=True, sandboxed=sandboxed) as db:
            assert db.execute("SELECT count(*), sum(value) FROM observations").fetchall() == [(5000, sum(range(5000)))]
