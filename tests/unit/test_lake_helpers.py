"""The DuckLake backend's pure helpers: constraint-free DDL, password handling, conflict retries."""

import duckdb
import pytest

from energy_orchestration.warehouse import WarehouseConflict
from energy_orchestration.warehouse.lake import redact, retry_on_conflict, split_password
from energy_orchestration.warehouse.schema import MIGRATIONS, migrate, without_constraints


def test_every_migration_loses_its_keys_and_nothing_else():
    for statement in MIGRATIONS:
        stripped = without_constraints(statement)
        assert "PRIMARY KEY" not in stripped.upper() and "UNIQUE" not in stripped.upper()
    with duckdb.connect() as db:  # the stripped schema is complete: same tables and columns as the keyed one
        migrate(db, constraints=False)
        stripped = db.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() ORDER BY ALL").fetchall()
        assert db.execute("SELECT count(*) FROM duckdb_constraints() WHERE constraint_type IN "
                          "('PRIMARY KEY', 'UNIQUE')").fetchall() == [(0,)]
    with duckdb.connect() as db:
        migrate(db)
        keyed = db.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() ORDER BY ALL").fetchall()
    assert stripped == keyed


def test_the_password_leaves_the_url_and_never_shows():
    url = "ducklake:postgres:host=db port=5432 password='s3 cr3t' dbname=lake user=energy"
    assert split_password(url) == ("ducklake:postgres:host=db port=5432 dbname=lake user=energy", "s3 cr3t")
    assert split_password("ducklake:postgres:host=db") == ("ducklake:postgres:host=db", "")
    shown = redact(f"could not connect: {url} PASSWORD=plain key other-secret", "other-secret")
    assert "s3 cr3t" not in shown and "plain" not in shown and "other-secret" not in shown


def test_conflicts_are_retried_a_bounded_number_of_times_then_raised_clearly():
    calls, slept = [], []

    def conflicting() -> None:
        calls.append(1)
        raise duckdb.TransactionException("Failed to commit DuckLake transaction. Transaction conflict - ...")

    with pytest.raises(WarehouseConflict, match="landing a batch: still conflicting with other writers after 3"):
        retry_on_conflict(conflicting, retries=3, what="landing a batch", sleep=slept.append)
    assert len(calls) == 4 and len(slept) == 3 and all(0 < s < 1 for s in slept)


def test_landing_claims_are_one_stable_valid_claim_per_partition_in_a_fixed_order():
    from energy_orchestration.warehouse.connection import LANDING_CLAIM, landing_claims
    from energy_orchestration.warehouse.lake import claim_table

    claims = landing_claims([("energy.raw.b", 1), ("energy.raw.a", 10), ("energy.raw.b", 1), ("energy.raw.a", 2)])
    assert claims == landing_claims([("energy.raw.a", 2), ("energy.raw.b", 1), ("energy.raw.a", 10)])
    assert len(claims) == 3 and claims[0].endswith("_2") and claims[1].endswith("_10")  # a/2, a/10, b/1
    assert claims[0].rsplit("_", 1)[0] == claims[1].rsplit("_", 1)[0] != claims[2].rsplit("_", 1)[0]
    assert all(claim_table(c) for c in claims)  # valid identifiers
    assert landing_claims([]) == (LANDING_CLAIM,)  # nothing to name: the claim of its own
