"""DuckLake has no lock of ours: concurrent writers rely on its snapshot isolation, and a write
that loses a transaction conflict is retried on the newer snapshot, landing without loss or
duplicates."""

import logging
import threading
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from energy_orchestration.warehouse import WarehouseConflict
from energy_orchestration.warehouse.lake import DuckLakeWarehouse, retry_on_conflict
from energy_orchestration.warehouse.landing import LandingBatch, land
from tests.warehouse_backends import new_warehouse

pytestmark = pytest.mark.integration

START = datetime(2025, 3, 1)


def minutes(first: int, count: int, value: float) -> pd.DataFrame:
    stamps = START + np.arange(first, first + count) * timedelta(minutes=1)
    return pd.DataFrame({
        "dataset": "PowerSystemRightNow", "zone": "DK-DK1", "quantity": "exchange_de",
        "interval_start_utc": pd.to_datetime(stamps).astype("datetime64[us]"), "interval_minutes": np.int16(1),
        "value": np.full(count, value), "unit": "MW", "status": "realtime",
        "fetched_at_utc": pd.Timestamp("2025-03-02"), "kafka_partition": 0, "kafka_offset": np.arange(count)})


@pytest.fixture
def lake(tmp_path: Path, request, monkeypatch) -> DuckLakeWarehouse:
    created = new_warehouse("ducklake", tmp_path, request, monkeypatch)
    assert isinstance(created, DuckLakeWarehouse)
    return created


def test_two_writers_landing_the_same_keys_at_once_conflict_and_the_retry_lands_both(lake, caplog):
    """Both transactions are held open until both have written, so their commits overlap for sure:
    the later one must lose the conflict, be retried, and its upsert then sees the other's rows."""
    both_written = threading.Barrier(2, timeout=60)
    errors: list[BaseException] = []
    attempts = {"a": 0, "b": 0}

    def writer(name: str, frame: pd.DataFrame) -> None:
        def action(db: duckdb.DuckDBPyConnection) -> None:
            attempts[name] += 1
            land(db, LandingBatch(frame, pd.DataFrame()), datetime(2025, 3, 2))
            if attempts[name] == 1:
                both_written.wait()  # first attempts only: the retry runs alone

        try:
            lake.write(action, what=f"writer {name}", claim="landing")
        except BaseException as exc:  # reported to the test
            errors.append(exc)

    # a: minutes 0-119 value 1; b: minutes 60-179 value 2 (60 keys in common, 60 of its own each)
    threads = [threading.Thread(target=writer, args=("a", minutes(0, 120, 1.0))),
               threading.Thread(target=writer, args=("b", minutes(60, 120, 2.0)))]
    with caplog.at_level(logging.WARNING, logger="energy_orchestration.warehouse.lake"):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    assert not errors, errors
    assert sorted(attempts.values()) == [1, 2]  # exactly one lost, and was retried once
    assert "lost a transaction conflict" in caplog.text
    with lake.connect(read_only=True) as db:
        rows, keys, first, last = db.execute(
            "SELECT count(*), count(DISTINCT interval_start_utc), min(interval_start_utc), max(interval_start_utc) "
            "FROM observations").fetchall()[0]
        overlap = {v for (v,) in db.execute("SELECT DISTINCT value FROM observations WHERE "
                                            "interval_start_utc BETWEEN $a AND $b",
                                            {"a": START + timedelta(minutes=60),
                                             "b": START + timedelta(minutes=119)}).fetchall()}
    assert (rows, keys) == (180, 180)  # nothing lost, nothing twice
    assert (first, last) == (START, START + timedelta(minutes=179))
    winner = "b" if attempts["b"] == 2 else "a"
    assert overlap == {2.0 if winner == "b" else 1.0}  # the retried (later) write wins the shared keys


def test_a_write_that_keeps_conflicting_gives_up_clearly_and_leaves_nothing(lake):
    """Another writer commits to the claim between our start and our commit, every time: after the
    bounded retries the error says so, and none of our attempts landed."""
    rival = replace_retries(lake, 0)
    calls = 0

    def action(db: duckdb.DuckDBPyConnection) -> None:
        nonlocal calls
        calls += 1
        db.execute("INSERT INTO emission_factors VALUES ('v-mine', 'XX', 'wind', 1.0, 'test')")
        rival.write(lambda other: other.execute("SELECT 1"), claim="landing")  # commits first

    stubborn = replace_retries(lake, 2)
    with pytest.raises(WarehouseConflict, match="after 2 retries"):
        stubborn.write(action, what="a stubborn write", claim="landing")
    assert calls == 3
    with lake.connect(read_only=True) as db:
        assert db.execute("SELECT count(*) FROM emission_factors WHERE version = 'v-mine'").fetchall() == [(0,)]


def replace_retries(warehouse: DuckLakeWarehouse, retries: int) -> DuckLakeWarehouse:
    from dataclasses import replace

    return replace(warehouse, conflict_retries=retries)


def test_only_conflicts_are_retried():
    calls = []

    def fails() -> None:
        calls.append(1)
        raise duckdb.ConversionException("not a conflict")

    with pytest.raises(duckdb.ConversionException):
        retry_on_conflict(fails, retries=5, what="x", sleep=lambda _s: None)
    assert len(calls) == 1


def test_processes_starting_together_on_a_new_catalog_migrate_it_once(lake_postgres, tmp_path, monkeypatch):
    """Three writers open an empty catalog at the same moment (as a scaled-out stack's first start
    does): every migration and every emission factor is stored once. Whether their migrations
    actually overlap depends on timing; the outcome must be right either way."""
    import os
    import subprocess
    import sys

    from energy_orchestration.emission_factors import FACTORS
    from energy_orchestration.warehouse import configured_warehouse
    from energy_orchestration.warehouse.schema import MIGRATIONS
    from tests.warehouse_backends import lake_env

    for name, value in lake_env(lake_postgres, str(tmp_path / "lake") + "/").items():
        monkeypatch.setenv(name, value)
    script = ("from energy_orchestration.warehouse import default_warehouse\n"
              "with default_warehouse().connect() as db: db.execute('SELECT 1')\n")
    children = [subprocess.Popen([sys.executable, "-c", script], env={**os.environ}, stderr=subprocess.PIPE,
                                 text=True) for _ in range(3)]
    for child in children:
        _, errors = child.communicate(timeout=180)
        assert child.returncode == 0, errors
    with configured_warehouse(tmp_path / "w.duckdb").connect(read_only=True) as db:
        assert db.execute("SELECT count(*), count(DISTINCT version) FROM schema_version").fetchall() == [
            (len(MIGRATIONS), len(MIGRATIONS))]
        assert db.execute("SELECT count(*) FROM emission_factors").fetchall() == [(len(FACTORS),)]
