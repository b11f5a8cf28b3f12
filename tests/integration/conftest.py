"""Real parts for integration tests: the embedded broker, a DuckDB file, the HTTP stand-in."""

import threading
import uuid
from pathlib import Path

import pytest

from energy_orchestration.streaming.broker import EmbeddedBroker
from energy_orchestration.streaming.consumer import ConsumerStats, LandingConsumer
from energy_orchestration.warehouse import Warehouse


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
    return Warehouse(tmp_path / "warehouse.duckdb", lock_timeout_seconds=30)


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
    """A warehouse holding two hours of Denmark and France, landed for real, and the real API
    (uvicorn on a free port) over it, shared by a module's read-only tests."""
    from energy_orchestration.standin import StandinConfig, StandinServer
    from tests.integration.serving_support import land_sample, start_api

    prefix = f"m{uuid.uuid4().hex[:10]}"
    with pytest.MonkeyPatch.context() as patch, StandinServer(StandinConfig(rate_limit_per_minute=0)) as standin:
        patch.setenv("ENERGY_TOPIC_PREFIX", prefix)
        warehouse = Warehouse(tmp_path_factory.mktemp("served") / "warehouse.duckdb", lock_timeout_seconds=30)
        land_sample(standin.url, broker.bootstrap_servers, warehouse, f"{prefix}-landing")
        server = start_api(warehouse, broker.bootstrap_servers)
        try:
            yield server, warehouse
        finally:
            server.__exit__(None, None, None)
