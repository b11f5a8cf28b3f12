"""Stand-in over HTTP -> producer -> embedded broker -> landing consumer -> DuckDB file."""

from datetime import datetime, timedelta

import pytest
from confluent_kafka import Consumer, Producer

from energy_orchestration.ingest import Window, fetch_and_publish
from energy_orchestration.model import utc_now
from energy_orchestration.sources.energidataservice import POWER_SYSTEM_RIGHT_NOW, EnergiDataServiceClient
from energy_orchestration.streaming.config import consumer_config
from energy_orchestration.streaming.topics import dead_letter_topic, raw_topic

pytestmark = pytest.mark.integration


@pytest.fixture
def warehouse(any_warehouse):
    """Every test here runs on both backends: the DuckDB file and DuckLake (tests/warehouse_backends.py)."""
    return any_warehouse

MAPPINGS = len(POWER_SYSTEM_RIGHT_NOW.mappings)


def recent_window(minutes: int) -> Window:
    end = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=2)  # the stand-in's clock
    return Window("PowerSystemRightNow", end - timedelta(minutes=minutes), end)


def test_a_window_lands_every_minute_for_dk1_and_dk2(standin, bootstrap, warehouse, land_all):
    window = recent_window(30)
    outcome = fetch_and_publish(EnergiDataServiceClient(standin.url), bootstrap, window)
    assert outcome.fetched == outcome.published == 30 and outcome.acked_until == window.end

    stats = land_all()
    assert stats.messages == 30 and stats.dead_lettered == 0
    with warehouse.connect(read_only=True) as db:
        per_zone = dict(db.execute("""
            SELECT zone, count(DISTINCT interval_start_utc) FROM observations
            WHERE zone IN ('DK-DK1', 'DK-DK2') GROUP BY zone""").fetchall())
        total, raw = db.execute(
            "SELECT (SELECT count(*) FROM observations), (SELECT count(*) FROM raw_records)").fetchall()[0]
        span = db.execute("SELECT min(interval_start_utc), max(interval_start_utc) FROM observations").fetchall()[0]
    assert per_zone == {"DK-DK1": 30, "DK-DK2": 30}
    assert total == 30 * MAPPINGS and raw == 30
    assert span == (window.start.replace(tzinfo=None), (window.end - timedelta(minutes=1)).replace(tzinfo=None))


def test_replaying_the_same_window_twice_creates_no_duplicates(standin, bootstrap, warehouse, land_all):
    window = recent_window(20)
    client = EnergiDataServiceClient(standin.url)
    fetch_and_publish(client, bootstrap, window)
    land_all()
    fetch_and_publish(client, bootstrap, window)                       # same window again (re-fetch)
    fetch_and_publish(client, bootstrap, Window(window.dataset, window.start + timedelta(minutes=10),
                                                window.end + timedelta(minutes=1)))  # overlapping window
    stats = land_all()
    assert stats.messages == 20 + 11
    with warehouse.connect(read_only=True) as db:
        duplicates = db.execute("""SELECT count(*) FROM (SELECT 1 FROM observations
            GROUP BY dataset, zone, quantity, interval_start_utc HAVING count(*) > 1)""").fetchall()[0][0]
        total = db.execute("SELECT count(*) FROM observations").fetchall()[0][0]
        logged = db.execute("SELECT sum(messages) FROM ingest_log").fetchall()[0][0]
    assert duplicates == 0
    assert total == 21 * MAPPINGS
    assert logged == 20 + 31  # every message was processed and logged; none added a row twice


def test_a_new_consumer_group_replaying_the_topic_changes_nothing(standin, bootstrap, warehouse, land_all):
    fetch_and_publish(EnergiDataServiceClient(standin.url), bootstrap, recent_window(10))
    land_all(group="first")
    with warehouse.connect(read_only=True) as db:
        before = db.execute("SELECT count(*), max(landed_at_utc) FROM observations").fetchall()[0]
    stats = land_all(group="second")                                   # a full replay from offset 0
    with warehouse.connect(read_only=True) as db:
        after = db.execute("SELECT count(*), max(landed_at_utc) FROM observations").fetchall()[0]
    assert stats.messages == 10
    assert after == before  # unchanged values are not rewritten
    with warehouse.connect(read_only=True) as db:  # and the ingest log says what was written, not only read
        logged = {group: [int(n) for n in sums] for group, *sums in db.execute("""
            SELECT consumer_group, sum(observations), sum(observations_new), sum(observations_changed),
                   sum(observations_unchanged) FROM ingest_log GROUP BY 1""").fetchall()}
    assert logged == {"first": [10 * MAPPINGS, 10 * MAPPINGS, 0, 0], "second": [10 * MAPPINGS, 0, 0, 10 * MAPPINGS]}


def test_poison_messages_go_to_the_dead_letter_topic_and_quarantine(standin, bootstrap, warehouse, land_all,
                                                                    psrn_records):
    fetch_and_publish(EnergiDataServiceClient(standin.url), bootstrap, recent_window(5))
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(raw_topic("PowerSystemRightNow"), key=b"DK", value=b"{not json")
    producer.produce(raw_topic("PowerSystemRightNow"), key=b"DK",
                     value=b'{"schema":"energy.raw-record","v":1,"dataset":"PowerSystemRightNow",'
                           b'"fetched_at":"2026-01-01T00:00:00.000000Z","record":{"Minutes1UTC":"garbage"}}')
    assert producer.flush(10) == 0

    stats = land_all()
    assert stats.messages == 7 and stats.dead_lettered == 2
    with warehouse.connect(read_only=True) as db:
        quarantined = db.execute("SELECT stage, rule, reason, payload FROM quarantine ORDER BY stage").fetchall()
        landed = db.execute("SELECT count(DISTINCT interval_start_utc) FROM observations").fetchall()[0][0]
    assert [(q[0], q[1]) for q in quarantined] == [("decode", "undecodable"), ("record", "missing_time")]
    assert "not JSON" in quarantined[0][2] and quarantined[0][3] == "{not json"
    assert landed == 5  # the good records around the poison landed

    dlq = Consumer(consumer_config(bootstrap, "dlq-reader"))
    dlq.subscribe([dead_letter_topic()])
    letters = []
    deadline = datetime.now() + timedelta(seconds=20)
    while len(letters) < 2 and datetime.now() < deadline:
        letters += [m for m in dlq.consume(10, 1.0) if m.error() is None]
    dlq.close()
    headers = sorted(dict(m.headers())["rule"] for m in letters)
    assert headers == [b"missing_time", b"undecodable"]
    assert {m.value() for m in letters} >= {b"{not json"}


def test_a_producer_for_a_broker_that_does_not_answer_fails_before_anything_is_produced():
    """``new_producer`` opens its connection first (so the producer id comes at once), and a
    broker that is not there fails it with the address, instead of a flush timing out later."""
    from energy_orchestration.streaming.broker import free_port
    from energy_orchestration.streaming.producer import PublishError, new_producer

    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(PublishError, match=f"broker {address} did not answer within 1s"):
        new_producer(address, timeout=1.0)

