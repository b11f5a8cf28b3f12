"""Both warehouse backends for tests: the DuckDB file and DuckLake on a real PostgreSQL catalog.

PostgreSQL (``profiles/postgres.py``, the Debian binaries on a free port) starts once per test
session, only when a DuckLake test runs; each test gets a fresh database in it and its own data
folder, so tests never see each other's tables. Use the ``any_warehouse`` fixture (parametrised
over ``file`` and ``ducklake``) for a test that must hold on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from energy_orchestration.warehouse import Warehouse, configured_warehouse

BACKENDS = ("file", "ducklake")


@pytest.fixture(scope="session")
def lake_postgres() -> Iterator[object]:
    """One throwaway PostgreSQL server for every DuckLake catalog of the session."""
    from energy_orchestration.profiles.postgres import LocalPostgres

    with LocalPostgres(database="lake", user="lake") as server:
        yield server


def lake_env(server, data_path: str) -> dict[str, str]:
    """The settings that point every process at a new, empty DuckLake catalog on ``server``."""
    database = f"lake_{uuid.uuid4().hex[:12]}"
    server.create_database(database)
    return {"ENERGY_WAREHOUSE_URL": f"ducklake:postgres:host=127.0.0.1 port={server.port} dbname={database} "
                                    f"user={server.user}",
            "ENERGY_WAREHOUSE_CATALOG_PASSWORD": server.password, "ENERGY_WAREHOUSE_DATA_PATH": data_path}


def new_warehouse(kind: str, folder: Path, request: pytest.FixtureRequest,
                  monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """An existing, migrated, empty warehouse of that backend; the environment is set to it too,
    so ``default_warehouse()``, ``WarehouseResource`` and child processes open the same one."""
    path = folder / "warehouse.duckdb"
    monkeypatch.setenv("ENERGY_WAREHOUSE_PATH", str(path))
    if kind == "ducklake":
        env = lake_env(request.getfixturevalue("lake_postgres"), str(folder / "lake") + "/")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
    else:
        monkeypatch.delenv("ENERGY_WAREHOUSE_URL", raising=False)
    created = configured_warehouse(path, lock_timeout_seconds=30)
    with created.connect():
        pass
    return created


@pytest.fixture(params=BACKENDS)
def any_warehouse(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Warehouse:
    """An empty warehouse, once on each backend."""
    return new_warehouse(request.param, tmp_path, request, monkeypatch)
