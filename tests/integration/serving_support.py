"""Shared by the serving tests: land real stand-in data, start the real API, produce one record."""

import dataclasses
import threading
import time
from datetime import datetime, timedelta

import requests

from energy_orchestration.ingest import WindowPolicy, fetch_and_publish, plan_window
from energy_orchestration.model import utc_now
from energy_orchestration.serving.config import ServerConfig
from energy_orchestration.serving.server import ApiServer
from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW, EnergiDataServiceClient
from energy_orchestration.sources.odre import REGIONAL_TR, OdreClient
from energy_orchestration.standin.synthetic_dk import power_system_right_now_record
from energy_orchestration.streaming.broker import free_port
from energy_orchestration.streaming.consumer import LandingConsumer
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import raw_topic
from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.aggregates import build_zone_hourly, build_zone_periods

SAMPLE = ("PowerSystemRightNow", "ElectricityProdex5MinRealtime", "CO2Emis",
          "eco2mix-regional-tr", "eco2mix-national-tr")


def land_sample(standin_url: str, bootstrap: str, warehouse: Warehouse, group: str, hours: int = 2) -> None:
    """The last ``hours`` of Denmark (minute data) and France (national, 12 regions) landed for real."""
    clients = {"energidataservice": EnergiDataServiceClient(standin_url), "odre": OdreClient(standin_url)}
    now = utc_now()  # the platform clock: pinned by `pytest --clock=...`, like the stand-in's
    for dataset in SAMPLE:
        window = plan_window(dataset, now, None, WindowPolicy(initial_lookback=timedelta(hours=hours)))
        client = clients["odre" if dataset.startswith("eco2mix") else "energidataservice"]
        assert fetch_and_publish(client, bootstrap, window, warehouse).published > 0
    LandingConsumer(bootstrap, warehouse, group, batch_max_messages=5000,
                    batch_max_seconds=0.5).run(threading.Event(), idle_exit_seconds=2.0)


def start_api(warehouse: Warehouse, bootstrap: str | None, **overrides) -> ApiServer:
    """The real server on a free loopback port, returned once its cache has caught up with Kafka."""
    config = dataclasses.replace(ServerConfig(port=free_port(), live_datasets=SAMPLE), **overrides)
    server = ApiServer(config, warehouse, bootstrap).__enter__()
    if bootstrap:
        deadline = time.monotonic() + 30
        while not requests.get(f"{server.url}/health", timeout=5).json()["cache_caught_up"]:
            assert time.monotonic() < deadline, "the API's cache feeder never caught up"
            time.sleep(0.1)
    return server


def produce_psrn_minute(bootstrap: str, minute: datetime) -> dict:
    """One new PowerSystemRightNow record (the stand-in's synthetic values) through Kafka."""
    record = power_system_right_now_record(minute)
    publish_records(bootstrap, raw_topic("PowerSystemRightNow"), "energidataservice", "PowerSystemRightNow",
                    [record], POWER_SYSTEM_RIGHT_NOW.message_zone, utc_now())
    return record


def produce_regional_quarter(bootstrap: str, record: dict) -> None:
    publish_records(bootstrap, raw_topic("eco2mix-regional-tr"), "odre", "eco2mix-regional-tr", [record],
                    REGIONAL_TR.message_zone, utc_now())


def newest_interval(warehouse: Warehouse, dataset: str) -> datetime:
    with warehouse.connect(read_only=True) as db:
        return db.execute("SELECT max(interval_start_utc) FROM observations WHERE dataset = ?",
                          [dataset]).fetchall()[0][0]


def build_aggregates(warehouse: Warehouse) -> None:
    """The wide zone tables over everything landed, with the aggregates' own builders."""
    with warehouse.connect(read_only=True) as db:
        first, last = db.execute(
            "SELECT min(interval_start_utc), max(interval_start_utc) FROM observations").fetchall()[0]
    start, end = first.replace(minute=0, second=0), last.replace(minute=0, second=0) + timedelta(hours=1)
    with warehouse.transaction() as db:
        build_zone_hourly(db, start, end)
        for grain in ("daily", "weekly", "monthly"):
            build_zone_periods(db, grain, (start - timedelta(days=1)).date(), (end + timedelta(days=1)).date())


def generated_observations(warehouse: Warehouse, zone: str, first: datetime, days: int) -> None:
    """Five-minute observations of three quantities (deterministic values), as landing writes them."""
    with warehouse.transaction() as db:
        db.execute("""
            INSERT INTO observations (dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit,
                                      status, fetched_at_utc, landed_at_utc)
            SELECT 'ElectricityProdex5MinRealtime', ?, q.quantity, t.ts, 5,
                   round(100 + 50 * sin(epoch(t.ts) / 7200.0) + q.k, 3), 'MW', 'realtime', t.ts + INTERVAL 1 MINUTE,
                   t.ts + INTERVAL 2 MINUTE
            FROM generate_series(?::TIMESTAMP, ?::TIMESTAMP - INTERVAL 5 MINUTE, INTERVAL 5 MINUTE) AS t(ts)
            CROSS JOIN (VALUES ('consumption', 0), ('production_wind_onshore', 7), ('production_solar', 3))
                       AS q(quantity, k)""", [zone, first, first + timedelta(days=days)])
