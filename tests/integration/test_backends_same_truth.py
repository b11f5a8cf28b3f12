"""Same truth on both backends: the same Kafka messages, landed in the same batches into the DuckDB
file and into DuckLake, then aggregated, leave every table identical row by row (only the
landed/built/quarantined timestamps, taken from the clock, may differ)."""

import json
import time
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest
from confluent_kafka import Consumer

from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW
from energy_orchestration.sources.odre import NATIONAL_TR, REGIONAL_TR
from energy_orchestration.streaming.config import consumer_config
from energy_orchestration.streaming.consumer import prepare_batch
from energy_orchestration.streaming.producer import publish_records
from energy_orchestration.streaming.topics import ensure_topics, raw_topic
from energy_orchestration.warehouse import LANDING_CLAIM, Warehouse
from energy_orchestration.warehouse.landing import land
from tests.integration.serving_support import build_aggregates
from tests.warehouse_backends import new_warehouse

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures"
CLOCK_COLUMNS = {"landed_at_utc", "built_at_utc", "quarantined_at_utc"}
FIRST_FETCH = datetime(2026, 8, 27, 12, 0, tzinfo=timezone.utc)
REVISED_FETCH = datetime(2026, 8, 27, 13, 0, tzinfo=timezone.utc)


def recorded(name: str, key: str) -> list[dict]:
    return json.loads((FIXTURES / name).read_text())[key]


def publish(bootstrap: str, fetched_at: datetime, revised: bool) -> int:
    """The real recorded payloads (Denmark minute data, France national and regional quarter hours),
    plus, the second time, the same again (a replay) with one value revised and one refused."""
    psrn = recorded("eds_PowerSystemRightNow_2026-04-08.json", "records")
    national = recorded("odre_eco2mix-national-tr_records_2026-08-27.json", "results")
    regional = recorded("odre_eco2mix-regional-tr_records_2026-08-27.json", "results")
    if revised:
        psrn = [dict(psrn[0], SolarPower=(psrn[0].get("SolarPower") or 0) + 7.5), dict(psrn[1], OnshoreWindPower=-1.0)]
        regional = [dict(regional[0], consommation=None, date_heure="not a time"), *regional[1:]]
    sent = 0
    for spec, records, provider in ((POWER_SYSTEM_RIGHT_NOW, psrn, "energidataservice"),
                                    (NATIONAL_TR, national, "odre"), (REGIONAL_TR, regional, "odre")):
        sent += publish_records(bootstrap, raw_topic(spec.name), provider, spec.name, records, spec.message_zone,
                                fetched_at).delivered
    return sent


def consume(bootstrap: str, group: str, count: int) -> list:
    """Exactly ``count`` messages of the three topics, read from the broker."""
    consumer = Consumer({**consumer_config(bootstrap, group), "auto.offset.reset": "earliest"})
    consumer.subscribe([raw_topic(s.name) for s in (POWER_SYSTEM_RIGHT_NOW, NATIONAL_TR, REGIONAL_TR)])
    messages: list = []
    deadline = time.monotonic() + 60
    try:
        while len(messages) < count:
            assert time.monotonic() < deadline, f"only {len(messages)} of {count} messages arrived"
            messages += [m for m in consumer.consume(count - len(messages), timeout=1.0) if m.error() is None]
    finally:
        consumer.close()
    return messages


def tables(warehouse: Warehouse) -> dict[str, pd.DataFrame]:
    """Every table and view of the warehouse schema (the backend's own machinery aside), sorted."""
    with warehouse.connect(read_only=True) as db:
        names = [n for (n,) in db.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "UNION ALL SELECT view_name FROM duckdb_views() WHERE database_name = current_database() "
            "AND NOT internal ORDER BY 1").fetchall() if not n.startswith("lake_claim_")]
        found = {}
        for name in names:
            described = [(d[0], str(d[1])) for d in db.execute(f"SELECT * FROM {name} LIMIT 0").description
                         if d[0] not in CLOCK_COLUMNS]
            # the file stores the vocabulary columns as ENUMs (DuckLake has no ENUM type): the
            # values must be the same, not the type pandas reads them as
            select = ", ".join(f'"{c}"::VARCHAR AS "{c}"' if c in ("payload", "offsets", "lag")
                               or kind.startswith("ENUM") else f'"{c}"' for c, kind in described)
            found[name] = db.execute(f"SELECT {select} FROM {name} ORDER BY ALL").df()
    return found


def test_the_same_messages_give_identical_tables_on_both_backends(bootstrap, tmp_path, request, monkeypatch):
    ensure_topics(bootstrap, [raw_topic(s.name) for s in (POWER_SYSTEM_RIGHT_NOW, NATIONAL_TR, REGIONAL_TR)])
    group = f"{request.node.name[:20]}-same-truth"
    first = consume(bootstrap, f"{group}-1", count := publish(bootstrap, FIRST_FETCH, revised=False))
    seen = {(m.topic(), m.partition(), m.offset()) for m in first}
    second = [m for m in consume(bootstrap, f"{group}-2", count + publish(bootstrap, REVISED_FETCH, revised=True))
              if (m.topic(), m.partition(), m.offset()) not in seen]
    batches = [prepare_batch(first, group, FIRST_FETCH), prepare_batch(second, group, REVISED_FETCH)]
    assert batches[1].landing.quarantine, "the second batch must exercise the quarantine"

    landed = {}
    for kind in ("file", "ducklake"):
        warehouse = new_warehouse(kind, tmp_path / kind, request, monkeypatch)
        for prepared in batches:  # the same batches (ids, rows) into each backend
            warehouse.write(lambda db, p=prepared: land(db, p.landing, datetime(2026, 8, 27, 14)),
                            claim=LANDING_CLAIM)
        build_aggregates(warehouse)
        landed[kind] = tables(warehouse)

    file, lake = landed["file"], landed["ducklake"]
    assert sorted(file) == sorted(lake)
    for name in ("observations", "raw_records", "quarantine", "ingest_log", "zone_hourly", "zone_daily"):
        assert len(file[name]) > 0, f"{name} is empty: the comparison would prove nothing"
    second_log = file["ingest_log"][file["ingest_log"]["batch_id"] == batches[1].landing.ingest_log[0].batch_id]
    assert second_log["observations_changed"].sum() >= 1 and second_log["observations_unchanged"].sum() > 0
    for name in file:
        pd.testing.assert_frame_equal(file[name], lake[name], check_exact=False, rtol=1e-12, obj=name)
