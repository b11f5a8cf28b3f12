"""Dagster resources: configuration from environment variables, behaviour from plain modules.

Each field defaults to :mod:`energy_orchestration.settings` (the README's table) through
:func:`env`, which hands Dagster an ``EnvVar`` when the variable is set, so the UI shows where
a value came from and secrets never appear in run config.
"""


import os
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg

from energy_orchestration import settings
from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
from energy_orchestration.sources.http import PoliteSession, RetryPolicy
from energy_orchestration.warehouse import Warehouse, configured_warehouse

if TYPE_CHECKING:
    from energy_orchestration.sources.odre import OdreClient


def env(name: str) -> str:
    """``EnvVar(name)`` when set in the environment, else the documented default."""
    value = settings.get(name)  # validates the name
    return dg.EnvVar(name) if name in os.environ else value  # type: ignore[return-value]


class WarehouseResource(dg.ConfigurableResource):
    """The configured warehouse (DuckDB file or DuckLake), from warehouse.configured_warehouse.

    ``url`` empty means ``ENERGY_WAREHOUSE_URL`` (itself empty = the file at ``path``)."""

    path: str = ""
    lock_timeout_seconds: float = float(settings.default("ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS"))
    url: str = ""

    def get(self) -> Warehouse:
        return configured_warehouse(Path(self.path).resolve() if self.path else None, self.lock_timeout_seconds,
                                    self.url or None)


class KafkaResource(dg.ConfigurableResource):
    """Where to publish. SASL/TLS settings come from KAFKA_* variables (see streaming.config)."""

    bootstrap_servers: str = ""

    def servers(self) -> str:
        if not self.bootstrap_servers:
            raise dg.Failure("KAFKA_BOOTSTRAP_SERVERS is not set: start the stack with `energy demo`, "
                             "or point it at a Kafka cluster")
        return self.bootstrap_servers


class EnergiDataServiceResource(dg.ConfigurableResource):
    """Energi Data Service, or its local stand-in (ENERGY_EDS_BASE_URL)."""

    base_url: str = settings.default("ENERGY_EDS_BASE_URL")
    timeout_seconds: float = 30.0
    max_attempts: int = 4
    backoff_seconds: float = 1.0

    def client(self, deadline: float | None = None) -> EnergiDataServiceClient:
        """A client; ``deadline`` (``time.monotonic()``) bounds every call (see ``PoliteSession``)."""
        retry = RetryPolicy(max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds)
        return EnergiDataServiceClient(self.base_url, PoliteSession(timeout_seconds=self.timeout_seconds, retry=retry,
                                                                    deadline=deadline))


class OdreResource(dg.ConfigurableResource):
    """ODRÉ / Opendatasoft (éCO2mix), or its local stand-in (ENERGY_ODRE_BASE_URL)."""

    base_url: str = settings.default("ENERGY_ODRE_BASE_URL")
    api_key: str = ""
    timeout_seconds: float = 30.0
    max_attempts: int = 4
    backoff_seconds: float = 1.0

    def client(self, deadline: float | None = None) -> "OdreClient":
        """A client; ``deadline`` (``time.monotonic()``) bounds every call (see ``PoliteSession``)."""
        from energy_orchestration.sources.odre import OdreClient

        retry = RetryPolicy(max_attempts=self.max_attempts, backoff_seconds=self.backoff_seconds)
        return OdreClient(self.base_url, PoliteSession(timeout_seconds=self.timeout_seconds, retry=retry,
                                                       deadline=deadline),
                          api_key=self.api_key or None)


def default_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "warehouse": WarehouseResource(path=env("ENERGY_WAREHOUSE_PATH"),
                                       lock_timeout_seconds=settings.get_float("ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS"),
                                       url=env("ENERGY_WAREHOUSE_URL")),
        "kafka": KafkaResource(bootstrap_servers=env("KAFKA_BOOTSTRAP_SERVERS")),
        "energidataservice": EnergiDataServiceResource(base_url=env("ENERGY_EDS_BASE_URL")),
        "odre": OdreResource(base_url=env("ENERGY_ODRE_BASE_URL"), api_key=env("ENERGY_ODRE_API_KEY")),
    }
