"""Every revision kept: a provider's revised value replaces the current one in ``observations``
and the earlier version moves to ``observation_revisions``, visible through ``observation_history``.

Real DuckDB files and the real landing code (``land``); the batches are built by hand because
the point is what the warehouse does with a changed value, not how it was fetched."""

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

from energy_orchestration.warehouse.landing import IngestLogRow, LandingBatch, land

pytestmark = pytest.mark.integration

INTERVAL = datetime(2025, 6, 1, 12, 0)
T1, T2, T3, T4 = (datetime(2025, 6, 1, 13, 0) + timedelta(hours=h) for h in range(4))
DATASET = "eco2mix-regional-tr"


def batch(value: float, status: str = "realtime", batch_id: str = "b") -> LandingBatch:
    frame = pd.DataFrame([{
        "dataset": DATASET, "zone": "FR-84", "quantity": "production_nuclear",
        "interval_start_utc": pd.Timestamp(INTERVAL), "interval_minutes": 15, "value": value, "unit": "MW",
        "status": status, "fetched_at_utc": pd.Timestamp(INTERVAL), "kafka_partition": 0, "kafka_offset": 1}])
    log = IngestLogRow(batch_id, DATASET, "test", 1, 1, 0, 0, INTERVAL, INTERVAL, "{}", "{}")
    return LandingBatch(frame, pd.DataFrame(), ingest_log=[log])


def land_at(warehouse, landing: LandingBatch, at: datetime):
    with warehouse.transaction() as db:
        return land(db, landing, at)


def history(warehouse):
    with warehouse.connect(read_only=True) as db:
        return db.execute("""SELECT value, status, valid_from_utc, valid_to_utc, is_current
                             FROM observation_history ORDER BY valid_from_utc""").fetchall()


def test_a_revision_keeps_the_old_version_and_a_replay_adds_nothing(warehouse):
    first = land_at(warehouse, batch(800.0, batch_id="b1"), T1)
    revised = land_at(warehouse, batch(812.5, "consolidated", batch_id="b2"), T2)
    replayed = land_at(warehouse, batch(812.5, "consolidated", batch_id="b3"), T3)

    assert (first.written[DATASET].new, revised.written[DATASET].changed, replayed.written[DATASET].unchanged) \
        == (1, 1, 1)
    assert replayed.written[DATASET].changed == 0
    assert history(warehouse) == [(800.0, "realtime", T1, T2, False), (812.5, "consolidated", T2, None, True)]
    with warehouse.connect(read_only=True) as db:
        assert db.execute("SELECT value FROM observations").fetchall() == [(812.5,)]
        logged = db.execute("""SELECT batch_id, observations_new, observations_changed, observations_unchanged
                               FROM ingest_log ORDER BY batch_id""").fetchall()
    assert logged == [("b1", 1, 0, 0), ("b2", 0, 1, 0), ("b3", 0, 0, 1)]


def test_a_value_revised_twice_has_three_versions_and_as_of_finds_each(warehouse):
    land_at(warehouse, batch(800.0), T1)
    land_at(warehouse, batch(812.5, "consolidated"), T2)
    land_at(warehouse, batch(811.0, "definitive"), T3)

    assert [(v, s) for v, s, *_ in history(warehouse)] == [
        (800.0, "realtime"), (812.5, "consolidated"), (811.0, "definitive")]
    as_of = """SELECT value FROM observation_history
               WHERE valid_from_utc <= ? AND (valid_to_utc IS NULL OR valid_to_utc > ?)"""
    with warehouse.connect(read_only=True) as db:
        seen = {t: db.execute(as_of, [t, t]).fetchall() for t in (T1 - timedelta(minutes=1), T1, T2, T4)}
    assert seen == {T1 - timedelta(minutes=1): [], T1: [(800.0,)], T2: [(812.5,)], T4: [(811.0,)]}


def test_as_of_on_the_api_answers_what_was_known_then_and_rebuilds_the_hour(warehouse):
    import requests

    from energy_orchestration.warehouse.aggregates import build_zone_hourly

    from .serving_support import start_api

    land_at(warehouse, batch(800.0), T1)
    land_at(warehouse, batch(900.0, "consolidated"), T2)
    hour = INTERVAL.replace(minute=0)
    with warehouse.transaction() as db:
        build_zone_hourly(db, hour, hour + timedelta(hours=1))
    server = start_api(warehouse, None)
    try:
        def get(path: str, **params):
            return requests.get(f"{server.url}/api/v1/zones/FR-84{path}", params=params, timeout=10)

        window = {"from": "2025-06-01T00:00:00Z", "to": "2025-06-02T00:00:00Z"}
        values = {label: [(i["value"], i["status"]) for i in get("/observations", **window, **extra).json()["items"]]
                  for label, extra in (("now", {}), ("before", {"as_of": "2025-06-01T12:59:00Z"}),
                                       ("v1", {"as_of": "2025-06-01T13:30:00Z"}),
                                       ("v1 local", {"as_of": "2025-06-01T15:30:00+02:00"}))}
        assert values == {"now": [(900.0, "consolidated")], "before": [], "v1": [(800.0, "realtime")],
                          "v1 local": [(800.0, "realtime")]}
        day = get("/days/2025-06-01", as_of="2025-06-01T13:30:00Z").json()["items"]
        assert [(i["value"], i["landed_at_utc"]) for i in day] == [(800.0, "2025-06-01T13:00:00Z")]
        # the CSV export answers the same as-of question as the JSON
        for path, params in (("/observations", window), ("/days/2025-06-01", {})):
            csv_lines = get(path, **params, as_of="2025-06-01T13:30:00Z", format="csv").text.splitlines()
            assert len(csv_lines) == 2 and ",800.0,MW,realtime," in csv_lines[1], csv_lines

        def hourly(**extra):
            answer = get("/aggregates/hourly", **{"from": "2025-06-01", "to": "2025-06-01"}, **extra)
            assert answer.status_code == 200, answer.text
            return [(i["hour_start_utc"], i["production_nuclear"]) for i in answer.json()["items"]]

        # 15 minutes of the hour present: the hour's mean is that value
        assert hourly() == [("2025-06-01T12:00:00Z", 900.0)]
        assert hourly(as_of="2025-06-01T13:30:00Z") == [("2025-06-01T12:00:00Z", 800.0)]
        assert hourly(as_of="2025-06-01T12:00:00Z") == []
        cut = get("/aggregates/hourly", **{"from": "2025-06-01", "to": "2025-06-01"}, as_of="2025-06-01T13:30:00Z",
                  limit=1).json()
        assert cut["truncated"] is False and cut["next_cursor"] is None  # one hour holds data: nothing cut
        assert get("/aggregates/hourly", **{"from": "2025-06-01", "to": "2025-06-01"}, as_of="2025-06-01T13:30:00Z",
                   format="csv").status_code == 406

        assert get("/observations", **window, as_of="yesterday").status_code == 422
        assert get("/observations", **window, as_of="1900-01-01T00:00:00Z").status_code == 400
        assert get("/aggregates/daily", as_of="2025-06-01T13:30:00Z").status_code == 400  # needs from and to
        daily = get("/aggregates/daily", **{"from": "2025-06-01", "to": "2025-06-01"}, as_of="2025-06-01T13:30:00Z")
        assert [(i["local_date"], i["production_nuclear"]) for i in daily.json()["items"]] == [("2025-06-01", 800.0)]
    finally:
        server.__exit__(None, None, None)


def test_the_standin_corrects_a_published_minute_and_landing_keeps_both_versions(bootstrap, warehouse, land_all):
    """Through the real stand-in (HTTP), Kafka and the landing consumer: the same window fetched
    before and after the provider's correction lands the corrected row as a change, the
    published one stays in the history, and an uncorrected neighbour is unchanged."""
    import numpy as np

    from energy_orchestration.ingest import Window, fetch_and_publish
    from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
    from energy_orchestration.standin import StandinConfig, StandinServer
    from energy_orchestration.standin.energidataservice import POWER_SYSTEM_RIGHT_NOW, corrected_rows

    base = datetime(2025, 6, 1, 10, 0, tzinfo=timezone.utc)
    minutes = int(base.timestamp()) // 60 + np.arange(120)
    late = base + timedelta(days=1)
    hit = corrected_rows(POWER_SYSTEM_RIGHT_NOW, minutes, np.zeros(120, dtype=np.int64), late, 0.2)
    first = int(np.flatnonzero(hit[:-1] & ~hit[1:])[0])  # a corrected minute followed by an uncorrected one
    corrected = base + timedelta(minutes=first)
    window = Window("PowerSystemRightNow", corrected, corrected + timedelta(minutes=2))
    clock = {"now": window.end}  # both minutes published, neither corrected yet
    with StandinServer(StandinConfig(rate_limit_per_minute=0, correction_rate=0.2,
                                     now=lambda: clock["now"])) as standin:
        client = EnergiDataServiceClient(standin.url)
        assert fetch_and_publish(client, bootstrap, window, warehouse).published == 2
        land_all()
        clock["now"] = late
        assert fetch_and_publish(client, bootstrap, window, warehouse).published == 2
        land_all()

    with warehouse.connect(read_only=True) as db:
        changed = db.execute("""SELECT interval_start_utc, quantity, count(*) FROM observation_history
                                GROUP BY dataset, zone, quantity, interval_start_utc HAVING count(*) > 1
                                ORDER BY ALL""").fetchall()
        log = db.execute("""SELECT sum(observations_changed) FROM ingest_log""").fetchall()[0][0]
        old_and_new = db.execute("""
            SELECT r.value, o.value, r.superseded_at_utc = o.landed_at_utc FROM observation_revisions r
            JOIN observations o USING (dataset, zone, quantity, interval_start_utc)""").fetchall()
    assert {t for t, _, _ in changed} == {corrected.replace(tzinfo=None)}
    assert {n for *_, n in changed} == {2} and log == len(changed)
    assert {q for _, q, _ in changed} <= {"production_solar", "production_wind_onshore", "production_wind_offshore"}
    assert old_and_new and all(old != new and same_moment for old, new, same_moment in old_and_new)



def test_eco2mix_real_time_values_come_back_consolidated_and_the_real_time_ones_stay_in_history(
        bootstrap, warehouse, land_all):
    """The stand-in consolidates éCO2mix real-time rows after ``consolidation_hours`` (``nature``
    'Données consolidées', revised values, same key); a re-fetch of the window lands them as
    changes with status 'consolidated', the real-time versions kept."""
    from energy_orchestration.ingest import Window, fetch_and_publish
    from energy_orchestration.sources.odre import OdreClient
    from energy_orchestration.standin import OdreStandinConfig, StandinConfig, StandinServer

    start = datetime(2025, 6, 1, 10, 0, tzinfo=timezone.utc)
    window = Window("eco2mix-regional-tr", start, start + timedelta(minutes=15))  # one quarter-hour, 12 regions
    clock = {"now": start + timedelta(hours=1)}
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=lambda: clock["now"],
                                     odre=OdreStandinConfig(consolidation_hours=3))) as standin:
        client = OdreClient(standin.url)
        assert fetch_and_publish(client, bootstrap, window, warehouse).published == 12
        land_all()
        clock["now"] = start + timedelta(hours=4)
        assert fetch_and_publish(client, bootstrap, window, warehouse).published == 12
        land_all()

    with warehouse.connect(read_only=True) as db:
        versions = db.execute("""SELECT status, is_current, count(*) FROM observation_history
                                 GROUP BY ALL ORDER BY ALL""").fetchall()
        unchanged_status = db.execute("SELECT count(*) FROM observations WHERE status = 'realtime'").fetchall()[0][0]
    by = {(status, current): n for status, current, n in versions}
    assert unchanged_status == 0  # the status changed on every row, so every row was rewritten
    assert by[("consolidated", True)] == by[("realtime", False)] > 12 * 5
    assert set(by) == {("consolidated", True), ("realtime", False)}


def test_the_hourly_revisit_run_brings_consolidations_and_corrections_in(tmp_path, monkeypatch, bootstrap,
                                                                         warehouse, land_all):
    """Real Dagster: the revisit schedule's run request, executed as the fetch_job run it is,
    re-reads the stand-in hours later and the revised values land with the old ones kept."""
    import dagster as dg
    import numpy as np

    from energy_orchestration.ingest import Window, fetch_and_publish
    from energy_orchestration.resources import (
        EnergiDataServiceResource,
        KafkaResource,
        OdreResource,
        WarehouseResource,
    )
    from energy_orchestration.sensors.fetch import fetch_job
    from energy_orchestration.sensors.revisit import revisit_schedule
    from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
    from energy_orchestration.sources.odre import OdreClient
    from energy_orchestration.standin import OdreStandinConfig, StandinConfig, StandinServer
    from energy_orchestration.standin.energidataservice import POWER_SYSTEM_RIGHT_NOW, corrected_rows

    live_end = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
    clock = {"now": live_end}
    monkeypatch.setenv("ENERGY_CLOCK_NOW", live_end.isoformat())
    live = [Window("PowerSystemRightNow", live_end - timedelta(minutes=15 - m), live_end - timedelta(minutes=14 - m))
            for m in range(15)] + [Window("eco2mix-regional-tr", live_end - timedelta(hours=1), live_end)]
    with StandinServer(StandinConfig(rate_limit_per_minute=0, correction_rate=0.2, now=lambda: clock["now"],
                                     odre=OdreStandinConfig(consolidation_hours=3, publication_lag_minutes=0))
                       ) as standin:
        clients = {"PowerSystemRightNow": EnergiDataServiceClient(standin.url),
                   "eco2mix-regional-tr": OdreClient(standin.url)}
        for window in live:  # the live fetch lands each interval as it appears: nothing revised yet
            clock["now"] = window.end
            fetch_and_publish(clients[window.dataset], bootstrap, window, warehouse)
        land_all()

        clock["now"] = live_end + timedelta(hours=4)
        monkeypatch.setenv("ENERGY_CLOCK_NOW", clock["now"].isoformat())
        monkeypatch.setenv("ENERGY_REVISIT_HOURS", "6")
        request = revisit_schedule(dg.build_schedule_context())
        resources = {"energidataservice": EnergiDataServiceResource(base_url=standin.url),
                     "odre": OdreResource(base_url=standin.url), "kafka": KafkaResource(bootstrap_servers=bootstrap),
                     "warehouse": WarehouseResource(path=str(warehouse.path))}
        with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
            assert fetch_job.execute_in_process(run_config=request.run_config, instance=instance,
                                                resources=resources, tags=request.tags).success
        land_all()

    minutes = (int(live[0].start.timestamp()) // 60) + np.arange(15)  # the minutes landed live
    corrected = int(corrected_rows(POWER_SYSTEM_RIGHT_NOW, minutes, np.zeros(15, dtype=np.int64),
                                   clock["now"], 0.2).sum())
    with warehouse.connect(read_only=True) as db:
        superseded = dict(db.execute("""SELECT dataset || '/' || status, count(*) FROM observation_revisions
                                        GROUP BY ALL""").fetchall())
        hour = [live[-1].start.replace(tzinfo=None), live[-1].end.replace(tzinfo=None)]
        live_rows = db.execute("""SELECT count(*) FROM observation_revisions r WHERE r.dataset = 'eco2mix-regional-tr'
                                  AND r.interval_start_utc >= ? AND r.interval_start_utc < ?""", hour).fetchall()[0][0]
        statuses = db.execute("""SELECT DISTINCT status FROM observations WHERE dataset = 'eco2mix-regional-tr'
                                 AND interval_start_utc < ?""", [live_end.replace(tzinfo=None)]).fetchall()
    assert corrected > 0  # the fixed clock and rate correct some of the 15 minutes (derived, not assumed)
    assert superseded == {"PowerSystemRightNow/realtime": 3 * corrected, "eco2mix-regional-tr/realtime": live_rows}
    assert live_rows > 4 * 12 * 5 and statuses == [("consolidated",)]


def test_every_grain_rebuilt_as_of_now_equals_the_stored_tables_and_as_of_before_a_revision_the_old_value(
        warehouse):
    from datetime import date

    from energy_orchestration.warehouse.aggregates import (
        build_zone_hourly,
        build_zone_periods,
        zone_hourly_as_of,
        zone_periods_as_of,
    )

    land_at(warehouse, batch(800.0), T1)
    land_at(warehouse, batch(900.0, "consolidated"), T2)
    # a second value an hour later, never revised, so days/weeks/months average more than one hour
    later = batch(600.0)
    later.observations["interval_start_utc"] = pd.Timestamp(INTERVAL + timedelta(hours=1))
    land_at(warehouse, later, T1)
    day = date(2025, 6, 1)
    with warehouse.transaction() as db:
        build_zone_hourly(db, datetime(2025, 5, 31), datetime(2025, 6, 2))
        for grain in ("daily", "weekly", "monthly"):
            build_zone_periods(db, grain, day, day)

    def without_build_stamps(db, rows):
        names = [d[0] for d in db.description]
        return [{n: v for n, v in zip(names, row, strict=True) if n not in ("built_at_utc", "built_by_run_id")}
                for row in rows]

    keys = {"daily": "local_date", "weekly": "week_start", "monthly": "month_start"}
    with warehouse.connect(read_only=True) as db:
        now = T4 + timedelta(days=1)
        stored = without_build_stamps(db, db.execute(
            "SELECT * FROM zone_hourly WHERE zone = 'FR-84' ORDER BY hour_start_utc").fetchall())
        rebuilt = without_build_stamps(db, zone_hourly_as_of(db, "FR-84", datetime(2025, 5, 31), datetime(2025, 6, 2),
                                                             now))
        assert rebuilt == stored and len(stored) == 2
        for grain, key in keys.items():
            table = {"daily": "zone_daily", "weekly": "zone_weekly", "monthly": "zone_monthly"}[grain]
            stored = without_build_stamps(db, db.execute(f"SELECT * FROM {table} WHERE zone = 'FR-84'").fetchall())
            rebuilt = without_build_stamps(db, zone_periods_as_of(db, "FR-84", grain, day, day, now))
            assert rebuilt == stored and len(stored) == 1, grain
            # before the revision: the day's mean of its two hours used the real-time 800, not 900
            before_revision = T1 + timedelta(minutes=30)
            [old] = without_build_stamps(db, zone_periods_as_of(db, "FR-84", grain, day, day, before_revision))
            assert old["production_nuclear"] == pytest.approx((800.0 + 600.0) / 2), grain
            assert stored[0]["production_nuclear"] == pytest.approx((900.0 + 600.0) / 2), grain
            assert old[key] == stored[0][key]
            # before anything landed: no row at all, not a row of zeros
            assert zone_periods_as_of(db, "FR-84", grain, day, day, T1 - timedelta(minutes=1)) == []
