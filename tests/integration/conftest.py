"""Real parts for integration tests: the embedded broker, a DuckDB file, the HTTP stand-in."""

import threading
import uuid
from pathlib import Path

import pytest

from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.consumer import ConsumerStats, LandingConsumer
from energy_orchestration.warehouse import Warehouse
from tests.warehouse_backends import any_warehouse, lake_postgres  # noqa: F401 (fixtures for every module)


@pytest.fixture(scope="session")
def broker():
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def bootstrap(broker) -> str:
    return broker.bootstrap_servers


@pytest.fixture(autouse=True)
def isolated_topics(monkeypatch):
    """Each test gets its own topics (and consumer groups), so tests sharing the broker never mix."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("ENERGY_TOPIC_PREFIX", prefix)
    return prefix


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    """An existing, empty (migrated) warehouse, as the landing consumer or `energy demo` leaves it:
    readers never create one."""
    created = Warehouse(tmp_path / "warehouse.duckdb", lock_timeout_seconds=30)
    with created.connect():
        pass
    return created


@pytest.fixture
def land_all(bootstrap, warehouse, isolated_topics):
    """Run the real landing consumer until the topics are drained (2 s without messages)."""

    def run(group: str | None = None, idle_seconds: float = 2.0) -> ConsumerStats:
        consumer = LandingConsumer(bootstrap, warehouse, group or f"{isolated_topics}-landing",
                                   batch_max_messages=5000, batch_max_seconds=0.5)
        return consumer.run(threading.Event(), idle_exit_seconds=idle_seconds)

    return run


@pytest.fixture
def standin():
    from energy_orchestration.standin import StandinConfig, StandinServer

    with StandinServer(StandinConfig(rate_limit_per_minute=0)) as server:
        yield server


@pytest.fixture(scope="module")
def served(broker, tmp_path_factory):
    """A warehouse holding two hours of Denmark and France, landed for real and aggregated, and the real API
    (uvicorn on a free port) over it, shared by a module's read-only tests."""
    from energy_orchestration.standin import StandinConfig, StandinServer
    from tests.integration.serving_support import build_aggregates, land_sample, start_api

    prefix = f"m{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch, StandinServer(StandinConfig(rate_limit_per_minute=0)) as standin:
        patch.setenv("ENERGY_TOPIC_PREFIX", prefix)
        warehouse = Warehouse(tmp_path_factory.mktemp("served") / "warehouse.duckdb", lock_timeout_seconds=30)
        land_sample(standin.url, broker.bootstrap_servers, warehouse, f"{prefix}-landing")
        build_aggregates(warehouse)
        server = start_api(warehouse, broker.bootstrap_servers)
        try:
            yield server, warehouse
        finally:
            server.__exit__(None, None, None)


@pytest.fixture
def land_range(standin, bootstrap, warehouse, land_all):
    """Fetch ``[start, end)`` of the given datasets from the stand-in over HTTP, publish to the
    broker and land with the real consumer: the whole live path, for a chosen span."""
    from energy_orchestration.assets.history import request_windows
    from energy_orchestration.ingest import fetch_and_publish
    from energy_orchestration.sources import DATASETS
    from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
    from energy_orchestration.sources.odre import OdreClient

    clients = {"energidataservice": EnergiDataServiceClient(standin.url), "odre": OdreClient(standin.url)}

    def run(start, end, datasets):
        fetched = 0
        for dataset in datasets:
            for window in request_windows(dataset, start, end):
                outcome = fetch_and_publish(clients[DATASETS[dataset].provider], bootstrap, window, warehouse)
                assert outcome.published == outcome.fetched
                fetched += outcome.fetched
        stats = land_all()
        assert stats.messages >= fetched
        return stats

    return run
