"""One warehouse interface, two backends: what every caller relies on holds on both."""

import os
from pathlib import Path

import duckdb
import pytest

from energy_orchestration.warehouse import Warehouse, WarehouseMissing, configured_warehouse, default_warehouse
from energy_orchestration.warehouse.lake import DuckLakeWarehouse

pytestmark = pytest.mark.integration


def test_the_settings_choose_the_backend(any_warehouse: Warehouse):
    chosen = default_warehouse()
    assert type(chosen) is type(any_warehouse)
    assert isinstance(chosen, DuckLakeWarehouse) == (any_warehouse.location != str(any_warehouse.path))
    with chosen.connect(read_only=True) as db:  # the same warehouse: migrated, seeded
        assert db.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] >= 5
        assert db.execute("SELECT count(*) FROM emission_factors").fetchall()[0][0] > 0


def test_a_sandboxed_connection_reads_the_warehouse_and_nothing_else(any_warehouse: Warehouse, tmp_path: Path):
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    with any_warehouse.transaction() as db:
        db.execute("INSERT INTO emission_factors VALUES ('v-test', 'XX', 'wind', 1.0, 'test')")
    with any_warehouse.connect(read_only=True, sandboxed=True) as db:
        assert db.execute("SELECT count(*) FROM emission_factors WHERE version = 'v-test'").fetchall() == [(1,)]
        for sql in (f"COPY emission_factors TO '{tmp_path / 'out.csv'}'", f"SELECT * FROM read_csv('{secret}')",
                    f"ATTACH '{tmp_path / 'other.duckdb'}' AS other", "SET enable_external_access = true"):
            with pytest.raises(duckdb.Error):
                db.execute(sql).fetchall()
        with pytest.raises(duckdb.Error):
            db.execute("DELETE FROM emission_factors").fetchall()
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


def test_a_sandboxed_query_cannot_find_the_catalog_password(tmp_path: Path, request, monkeypatch):
    """DuckDB lists attached paths in a setting any query reads: the password must not be in them."""
    from tests.warehouse_backends import new_warehouse

    lake = new_warehouse("ducklake", tmp_path, request, monkeypatch)
    password = os.environ["ENERGY_WAREHOUSE_CATALOG_PASSWORD"]
    with lake.connect(read_only=True, sandboxed=True) as db:
        seen = db.execute("SELECT (SELECT string_agg(value, ' ') FROM duckdb_settings()) || "
                          "(SELECT string_agg(secret_string, ' ') FROM duckdb_secrets()) || "
                          "(SELECT string_agg(coalesce(path, ''), ' ') FROM duckdb_databases())").fetchall()[0][0]
    assert "lake_catalog" in seen and password not in seen


def test_a_reader_never_creates_a_warehouse(any_warehouse: Warehouse, tmp_path: Path, request, monkeypatch):
    if isinstance(any_warehouse, DuckLakeWarehouse):
        from tests.warehouse_backends import lake_env

        for name, value in lake_env(request.getfixturevalue("lake_postgres"), str(tmp_path / "empty") + "/").items():
            monkeypatch.setenv(name, value)
    empty = configured_warehouse(tmp_path / "nothing.duckdb")
    with pytest.raises(WarehouseMissing):
        with empty.connect(read_only=True):
            pass
    with pytest.raises(WarehouseMissing):
        with empty.connect(read_only=True, sandboxed=True):
            pass


def test_the_catalog_password_never_shows(lake_postgres, tmp_path: Path, monkeypatch):
    from tests.warehouse_backends import lake_env

    env = lake_env(lake_postgres, str(tmp_path / "lake") + "/")
    password = env.pop("ENERGY_WAREHOUSE_CATALOG_PASSWORD")
    url = env["ENERGY_WAREHOUSE_URL"]
    monkeypatch.setenv("ENERGY_WAREHOUSE_DATA_PATH", env["ENERGY_WAREHOUSE_DATA_PATH"])
    wrong = configured_warehouse(tmp_path / "w.duckdb", url=f"{url} password={password}x")
    assert password not in repr(wrong) and password not in wrong.location
    with pytest.raises(duckdb.Error) as refused:  # a wrong password: PostgreSQL's error is shown, the password not
        with wrong.connect():
            pass
    assert "password authentication failed" in str(refused.value) and password not in str(refused.value)


def test_a_reader_of_a_catalog_still_being_migrated_is_told_to_wait_not_shown_missing_tables(
        tmp_path: Path, request, monkeypatch):
    """On DuckLake readers take no lock, so one can arrive while the first process is still
    applying the migrations (each its own transaction): the tables of the later ones are not
    there yet. It gets WarehouseMissing ("still being migrated"), as for a catalog not created
    yet, instead of a query failing on a missing table (seen in the production-profile test:
    ``zone_hourly does not exist``)."""
    from energy_orchestration.warehouse.schema import MIGRATIONS
    from tests.warehouse_backends import new_warehouse

    lake = new_warehouse("ducklake", tmp_path, request, monkeypatch)
    with lake.connect() as db:  # as if the last migration had not been applied yet
        db.execute("DELETE FROM schema_version WHERE version = ?", [len(MIGRATIONS)])
    with pytest.raises(WarehouseMissing, match="still being migrated"):
        with lake.connect(read_only=True):
            pass
    with lake.connect() as db:
        db.execute("INSERT INTO schema_version VALUES (?)", [len(MIGRATIONS)])
    with lake.connect(read_only=True) as db:
        assert db.execute("SELECT count(*) FROM zone_hourly").fetchall() == [(0,)]
