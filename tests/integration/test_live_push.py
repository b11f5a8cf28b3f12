"""WebSocket push on real sockets: the cache on connect, then records produced through Kafka,
filtered by the topic allow-list."""

import json
import re
from datetime import timedelta

import pytest
import requests
from websockets.sync.client import connect

from energy_orchestration.streaming.topics import raw_topic
from tests.integration.serving_support import (
    land_sample,
    newest_interval,
    produce_psrn_minute,
    produce_regional_quarter,
    start_api,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def landed(standin, bootstrap, warehouse, isolated_topics):
    land_sample(standin.url, bootstrap, warehouse, f"{isolated_topics}-landing")
    return warehouse


@pytest.fixture
def api(landed, bootstrap):
    servers = []

    def start(**overrides):
        servers.append(start_api(landed, bootstrap, **overrides))
        return servers[-1]

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def receive_until(socket, predicate, limit: int = 200) -> tuple[dict, list[dict]]:
    """Messages up to and including the first that matches (each wait bounded by 20 s)."""
    before = []
    for _ in range(limit):
        message = json.loads(socket.recv(timeout=20))
        if predicate(message):
            return message, before
        before.append(message)
    raise AssertionError(f"no matching message among {limit}")


def newest_regional_record(warehouse, zone: str) -> dict:
    with warehouse.connect(read_only=True) as db:
        payload = db.execute("""SELECT r.payload FROM raw_records r WHERE r.dataset = 'eco2mix-regional-tr'
                                AND json_extract_string(r.payload, '$.record.code_insee_region') = ?
                                ORDER BY r.interval_start_utc DESC LIMIT 1""", [zone.split("-")[1]]).fetchall()[0][0]
    return json.loads(payload)["record"]


def test_a_client_gets_the_cache_on_connect_then_every_new_record(api, landed, bootstrap):
    server = api()
    newest = newest_interval(landed, "PowerSystemRightNow")
    with connect(f"{server.ws_url}/api/v1/live") as socket:
        snapshot = json.loads(socket.recv(timeout=20))
        assert snapshot["type"] == "snapshot"
        by_key = {(m["topic"], m["zone"]): m for m in snapshot["messages"]}
        psrn_dk1 = by_key[(raw_topic("PowerSystemRightNow"), "DK-DK1")]
        assert psrn_dk1["interval_start_utc"] == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
        assert "exchange_de" in psrn_dk1["values"]
        assert (raw_topic("eco2mix-regional-tr"), "FR-84") in by_key

        minute = newest + timedelta(minutes=1)
        record = produce_psrn_minute(bootstrap, minute)
        stamp = minute.strftime("%Y-%m-%dT%H:%M:%SZ")
        live, _ = receive_until(socket, lambda m: m["zone"] == "DK-DK1" and m["interval_start_utc"] == stamp)
        assert live["type"] == "observation" and live["dataset"] == "PowerSystemRightNow"
        assert live["values"]["exchange_de"]["value"] == pytest.approx(record["Exchange_DK1_DE"])
    # ...and the cache behind the HTTP endpoint moved too
    answer = requests.get(f"{server.url}/api/v1/zones/DK-DK1/latest", timeout=10).json()
    latest = {v["quantity"]: v for v in answer["values"]}
    assert latest["exchange_de"]["interval_start_utc"] == stamp


def test_the_allow_list_and_the_zone_filter_decide_what_is_pushed(api, landed, bootstrap):
    server = api(topic_allow=re.compile(r".*\.raw\.eco2mix-regional-tr"))
    with connect(f"{server.ws_url}/api/v1/live") as everything, \
            connect(f"{server.ws_url}/api/v1/live?zone=FR-84") as one_zone:
        snapshot = json.loads(everything.recv(timeout=20))["messages"]
        assert snapshot and {m["dataset"] for m in snapshot} == {"eco2mix-regional-tr"}
        assert {m["zone"] for m in json.loads(one_zone.recv(timeout=20))["messages"]} == {"FR-84"}

        produce_psrn_minute(bootstrap, newest_interval(landed, "PowerSystemRightNow") + timedelta(minutes=1))
        for zone in ("FR-11", "FR-84"):  # after the Danish record, so it would have arrived first
            record = newest_regional_record(landed, zone)
            record["date_heure"] = (newest_interval(landed, "eco2mix-regional-tr") + timedelta(minutes=15)) \
                .strftime("%Y-%m-%dT%H:%M:%S+00:00")
            produce_regional_quarter(bootstrap, record)
        first, _ = receive_until(everything, lambda m: True)
        assert first["dataset"] == "eco2mix-regional-tr"  # the Danish record was never pushed
        _, before = receive_until(everything,
                                  lambda m: {m["zone"]} <= {"FR-11", "FR-84"} and m["zone"] != first["zone"])
        assert before == []
        mine, _ = receive_until(one_zone, lambda m: True)
        assert mine["zone"] == "FR-84" and mine["type"] == "observation"
