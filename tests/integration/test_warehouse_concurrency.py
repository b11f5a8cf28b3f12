"""Several processes share one DuckDB file through the warehouse module's lock discipline."""

import multiprocessing
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.aggregates import build_zone_hourly
from energy_orchestration.warehouse.landing import LandingBatch, land

pytestmark = pytest.mark.integration

START = datetime(2025, 3, 1)
BATCHES, MINUTES_PER_BATCH = 30, 60


def batch_frame(number: int) -> pd.DataFrame:
    minutes = START + np.arange(number * MINUTES_PER_BATCH, (number + 1) * MINUTES_PER_BATCH) * timedelta(minutes=1)
    return pd.DataFrame({
        "dataset": "PowerSystemRightNow", "zone": "DK-DK1", "quantity": "exchange_de",
        "interval_start_utc": pd.to_datetime(minutes).astype("datetime64[us]"), "interval_minutes": np.int16(1),
        "value": np.arange(MINUTES_PER_BATCH, dtype=float) + number, "unit": "MW", "status": "realtime",
        "fetched_at_utc": pd.Timestamp("2025-03-02"), "kafka_partition": 0,
        "kafka_offset": np.arange(MINUTES_PER_BATCH) + number * MINUTES_PER_BATCH})


def landing_process(path: str, errors) -> None:
    warehouse = Warehouse(Path(path), lock_timeout_seconds=30)
    try:
        for number in range(BATCHES):
            with warehouse.transaction() as db:
                land(db, LandingBatch(batch_frame(number), pd.DataFrame()), datetime.now())
    except Exception as exc:  # reported to the test, which fails on any
        errors.put(f"landing: {exc!r}")


def aggregate_process(path: str, errors, stop) -> None:
    warehouse = Warehouse(Path(path), lock_timeout_seconds=30)
    try:
        while not stop.is_set():
            with warehouse.transaction() as db:
                build_zone_hourly(db, START, START + timedelta(days=2))
    except Exception as exc:
        errors.put(f"aggregate: {exc!r}")


def reader_process(path: str, errors, stop, reads) -> None:
    warehouse = Warehouse(Path(path), lock_timeout_seconds=30)
    try:
        while not stop.is_set():
            with warehouse.connect(read_only=True) as db:
                db.execute("SELECT count(*), max(interval_start_utc) FROM observations").fetchall()
            with reads.get_lock():
                reads.value += 1
    except Exception as exc:
        errors.put(f"reader: {exc!r}")


def test_consumer_aggregates_and_readers_share_one_file(tmp_path):
    path = str(tmp_path / "shared.duckdb")
    with Warehouse(Path(path)).connect():
        pass  # create and migrate once
    context = multiprocessing.get_context("spawn")
    errors, stop, reads = context.Queue(), context.Event(), context.Value("i", 0)
    landing = context.Process(target=landing_process, args=(path, errors))
    others = [context.Process(target=aggregate_process, args=(path, errors, stop)),
              context.Process(target=reader_process, args=(path, errors, stop, reads)),
              context.Process(target=reader_process, args=(path, errors, stop, reads))]
    for process in [landing, *others]:
        process.start()
    landing.join(120)
    stop.set()
    for process in others:
        process.join(60)
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert problems == []
    assert landing.exitcode == 0 and all(p.exitcode == 0 for p in others)
    assert reads.value > 0
    with Warehouse(Path(path)).transaction() as db:
        build_zone_hourly(db, START, START + timedelta(days=2))
        landed = db.execute("SELECT count(*), count(DISTINCT interval_start_utc) FROM observations").fetchall()[0]
        hours = db.execute("SELECT count(*), min(minutes_present) FROM zone_hourly").fetchall()[0]
    assert landed == (BATCHES * MINUTES_PER_BATCH, BATCHES * MINUTES_PER_BATCH)  # no row lost or doubled
    assert hours == (BATCHES * MINUTES_PER_BATCH // 60, 60)


def test_a_held_lock_ends_in_a_clear_error_after_the_bounded_wait(tmp_path):
    from energy_orchestration.warehouse import WarehouseBusy

    holder = Warehouse(tmp_path / "w.duckdb", lock_timeout_seconds=5)
    impatient = Warehouse(tmp_path / "w.duckdb", lock_timeout_seconds=0.3)
    with holder.connect():
        with pytest.raises(WarehouseBusy, match="still held by another process after 0.3s"):
            with impatient.connect(read_only=True):
                pass
    with impatient.connect(read_only=True) as db:  # released: works again
        assert db.execute("SELECT 1").fetchall() == [(1,)]
