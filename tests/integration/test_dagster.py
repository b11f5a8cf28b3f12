"""Real Dagster (instance, sensor evaluation, job and asset execution) over the real parts."""

import json
import time
from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
import requests

from energy_orchestration.assets.aggregates import zone_hourly
from energy_orchestration.assets.keys import history_asset_key, raw_asset_key
from energy_orchestration.assets.partitions import hour_key
from energy_orchestration.definitions import defs
from energy_orchestration.ingest import WindowPolicy
from energy_orchestration.resources import EnergiDataServiceResource, KafkaResource, OdreResource, WarehouseResource
from energy_orchestration.sensors.fetch import (
    ACKED_TAG_PREFIX,
    LIVE_DATASETS,
    FetchTick,
    evaluate_fetch_sensor,
    fetch_job,
    fetch_run_config,
    fetch_sensor,
    plan_fetch,
)
from energy_orchestration.sources import DATASETS

pytestmark = pytest.mark.integration

POLICY = WindowPolicy(overlap=timedelta(minutes=5), initial_lookback=timedelta(minutes=15),
                      max_window=timedelta(hours=24))


def resources(standin_url, bootstrap, warehouse, attempts=4):
    return {"energidataservice": EnergiDataServiceResource(base_url=standin_url, timeout_seconds=5,
                                                           max_attempts=attempts, backoff_seconds=0.05),
            "odre": OdreResource(base_url=standin_url, timeout_seconds=5, max_attempts=attempts, backoff_seconds=0.05),
            "kafka": KafkaResource(bootstrap_servers=bootstrap),
            "warehouse": WarehouseResource(path=str(warehouse.path))}


PSRN = ("PowerSystemRightNow",)  # the fetch mechanics, shown on one dataset


def run_tick(instance, cursor, now, res, budget_seconds=30.0, datasets=PSRN) -> FetchTick:
    """One live sensor tick, as ``fetch_sensor`` evaluates it, with the clock in the test's hands."""
    clients = {"energidataservice": res["energidataservice"].client, "odre": res["odre"].client}
    return evaluate_fetch_sensor(instance, cursor, now, lambda provider, until: clients[provider](deadline=until),
                                 res["kafka"].servers(), res["warehouse"].get(), time.monotonic() + budget_seconds,
                                 datasets=datasets, policy=POLICY)


def planned(instance, cursor, now, datasets=PSRN) -> list:
    windows, _, _ = plan_fetch(instance, cursor, now, datasets=datasets, policy=POLICY)
    return windows


def test_definitions_load_with_lineage_from_history_to_monthly():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    names = ["powersystemrightnow", "co2emis", "electricityprodex5minrealtime", "eco2mix_national_tr",
             "eco2mix_regional_tr", "eco2mix_regional_cons_def", "eco2mix_national_cons_def"]
    raw, history = {f"raw/{n}" for n in names}, {f"history/{n}" for n in names}
    aggregates = {"agg/zone_hourly", "agg/zone_daily", "agg/zone_weekly", "agg/zone_monthly"}
    assert keys == raw | history | aggregates

    def parents(key: str) -> set[str]:
        return {p.to_user_string() for p in graph.get(dg.AssetKey.from_user_string(key)).parent_keys}

    assert parents("agg/zone_hourly") == raw
    assert parents("raw/powersystemrightnow") == {"history/powersystemrightnow"}
    assert parents("agg/zone_daily") == {"agg/zone_hourly"}
    assert parents("agg/zone_weekly") == parents("agg/zone_monthly") == {"agg/zone_daily"}
    for sensor in ("fetch_sensor", "landing_sensor", "rollup_sensor", "gap_repair_sensor", "quality_sensor"):
        assert defs.resolve_sensor_def(sensor).default_status == dg.DefaultSensorStatus.RUNNING


def test_a_sensor_tick_through_dagster_fetches_every_due_dataset_without_a_run(tmp_path, standin, bootstrap,
                                                                                 warehouse, land_all):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        context = dg.build_sensor_context(instance=instance, cursor=None,
                                          resources=resources(standin.url, bootstrap, warehouse))
        result = fetch_sensor(context)
        assert result.run_requests == [] and instance.get_runs_count() == 0  # no process per minute
        assert result.skip_reason.skip_message.startswith("no run needed, fetched in this tick; published: ")
        windows = {e.asset_key.to_user_string(): e.metadata for e in result.asset_events}
        assert set(windows) == {raw_asset_key(d).to_user_string() for d in LIVE_DATASETS}
        acked = json.loads(result.cursor)["acked"]
        assert set(acked) == set(LIVE_DATASETS)  # every window acknowledged, so every cursor moved
        for dataset in LIVE_DATASETS:
            meta = windows[raw_asset_key(dataset).to_user_string()]
            assert meta["status"].value == "published" and meta["published"].value == meta["fetched"].value > 0
            start, end = (datetime.fromisoformat(meta[k].value) for k in ("window_start", "window_end"))
            assert acked[dataset] == end.isoformat()
            step = timedelta(minutes=DATASETS[dataset].interval_minutes)
            assert timedelta(0) < end - start <= timedelta(minutes=15) + step and (end - start) % step == timedelta(0)
    assert land_all().messages == sum(m["published"].value for m in windows.values())


def test_a_live_tick_publishes_and_moves_its_cursor_to_the_acknowledged_end(tmp_path, standin, bootstrap,
                                                                             warehouse, land_all):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        now = datetime.now(timezone.utc)
        tick = run_tick(instance, None, now, resources(standin.url, bootstrap, warehouse))
        [done] = tick.outcome.outcomes
        assert tick.outcome.failures == [] and done.published == 15
        acked = done.acked_until.isoformat()
        # the next tick starts from the acknowledged end, overlapping it by 5 minutes
        assert json.loads(tick.cursor)["acked"] == {"PowerSystemRightNow": acked}
        [window] = planned(instance, tick.cursor, now + timedelta(minutes=1))
        assert window.start == datetime.fromisoformat(acked) - timedelta(minutes=5)
    assert land_all().messages == 15


def test_the_windows_of_a_tick_share_a_producer_and_a_failed_window_does_not_spoil_the_next(standin, bootstrap,
                                                                                              land_all):
    """One producer serves the tick's windows; a window that failed drops it, and the windows
    after it still publish, each acknowledged in full, on a fresh one."""
    from energy_orchestration.ingest import Window, fetch_windows_within
    from energy_orchestration.model import utc_now
    from energy_orchestration.sources.energidataservice import EnergiDataServiceClient
    from energy_orchestration.sources.http import SourceUnavailable

    class CO2EmisDown:
        def __init__(self) -> None:
            self.real = EnergiDataServiceClient(standin.url)

        def fetch_window(self, dataset, start, end):
            if dataset == "CO2Emis":
                raise SourceUnavailable("HTTP 503 for CO2Emis")
            return self.real.fetch_window(dataset, start, end)

    # the platform's clock, which the stand-in publishes up to: right under a pinned clock too
    end = utc_now().replace(second=0, microsecond=0) - timedelta(minutes=10)
    windows = [Window("PowerSystemRightNow", end - timedelta(minutes=10), end),
               Window("CO2Emis", end - timedelta(minutes=30), end),
               Window("ElectricityProdex5MinRealtime", end - timedelta(minutes=30), end),
               Window("PowerSystemRightNow", end - timedelta(minutes=20), end - timedelta(minutes=10))]
    outcome = fetch_windows_within(windows, lambda provider, deadline: CO2EmisDown(), bootstrap, None,
                                   deadline=time.monotonic() + 60)
    assert [(w.dataset, why) for w, why in outcome.failures] == [("CO2Emis", "SourceUnavailable: HTTP 503 for CO2Emis")]
    assert [o.window for o in outcome.outcomes] == [windows[0], windows[2], windows[3]]
    assert all(o.published == o.fetched > 0 and o.acked_until == o.window.end for o in outcome.outcomes)
    assert land_all().messages == sum(o.published for o in outcome.outcomes)


def test_a_manual_fetch_run_reports_its_acknowledgement_to_the_sensor(tmp_path, standin, bootstrap, warehouse,
                                                                       land_all):
    """``fetch_job`` stays for repairs and manual runs; the sensor folds their acknowledgement in."""
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        now = datetime.now(timezone.utc)
        [window] = planned(instance, None, now)
        result = fetch_job.execute_in_process(run_config=fetch_run_config([window]), instance=instance,
                                              resources=resources(standin.url, bootstrap, warehouse))
        assert result.success
        acked = instance.get_run_by_id(result.run_id).tags[ACKED_TAG_PREFIX + "PowerSystemRightNow"]
        windows, acked_seen, _ = plan_fetch(instance, None, now + timedelta(minutes=1), datasets=PSRN, policy=POLICY)
        assert acked_seen == {"PowerSystemRightNow": acked}
        assert windows[0].start == datetime.fromisoformat(acked) - timedelta(minutes=5)
    assert land_all().messages == 15


def test_a_running_backfill_of_a_dataset_defers_its_live_fetch_and_the_next_tick_covers_the_gap(
        tmp_path, bootstrap, warehouse, land_all):
    """Energi Data Service allows one request per dataset per minute: a backfill racing the minute
    tick for the same dataset lost every time (HTTP 429 until the run failed; production-profile
    e2e). While a history run of the dataset is in flight the tick leaves that dataset alone and
    its cursor stays; the first tick after the run fetches the whole gap."""
    import uuid

    from energy_orchestration.standin import StandinConfig, StandinServer

    now = datetime(2026, 3, 2, 12, 0, 30, tzinfo=timezone.utc)  # pinned: the stand-in publishes up to `clock`
    clock = {"now": now}
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=lambda: clock["now"])) as server, \
            dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        res = resources(server.url, bootstrap, warehouse)
        first = run_tick(instance, None, now, res)
        acked = json.loads(first.cursor)["acked"]["PowerSystemRightNow"]
        backfill = dg.DagsterRun(job_name="__ASSET_JOB", run_id=str(uuid.uuid4()),
                                 status=dg.DagsterRunStatus.STARTED,
                                 asset_selection=frozenset({history_asset_key("PowerSystemRightNow")}))
        instance.add_run(backfill)
        other = dg.DagsterRun(job_name="__ASSET_JOB", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED,
                              asset_selection=frozenset({history_asset_key("CO2Emis")}))
        instance.add_run(other)  # another dataset's backfill defers only that dataset

        clock["now"] = now + timedelta(minutes=3)
        waiting = run_tick(instance, first.cursor, clock["now"], res)
        assert waiting.outcome is None
        assert f"PowerSystemRightNow (run {backfill.run_id[:8]})" in waiting.skip_reason
        assert "CO2Emis" in waiting.skip_reason
        assert json.loads(waiting.cursor)["acked"]["PowerSystemRightNow"] == acked  # cursor kept: no gap

        instance.report_run_failed(instance.get_run_by_id(backfill.run_id))
        clock["now"] = now + timedelta(minutes=6)
        after = run_tick(instance, waiting.cursor, clock["now"], res)
        [done] = after.outcome.outcomes
        assert done.window.start == datetime.fromisoformat(acked) - timedelta(minutes=5)
        assert done.published == 11 and "waiting for history runs to finish: CO2Emis" in after.summary()
    assert land_all().messages == 15 + 11  # the overlap is published again, and lands once:
    with warehouse.connect(read_only=True) as db:
        minutes = db.execute("""SELECT count(DISTINCT interval_start_utc), count(*) FROM raw_records
                                WHERE dataset = 'PowerSystemRightNow'""").fetchone()
    assert minutes == (15 + 6, 15 + 6)  # every minute of the gap, once


def test_three_minutes_of_503_leave_no_gap(tmp_path, bootstrap, warehouse, land_all):
    """The stand-in fails for three sensor ticks; the next successful run covers the gap."""
    from energy_orchestration.standin import StandinConfig, StandinServer

    clock = {"now": datetime.now(timezone.utc).replace(second=30, microsecond=0) - timedelta(hours=3)}
    start = clock["now"]
    outcomes = []
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=lambda: clock["now"])) as server, \
            dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        res = resources(server.url, bootstrap, warehouse, attempts=2)
        cursor = None
        for minute in range(8):
            clock["now"] = start + timedelta(minutes=minute)
            if minute == 2:
                requests.post(f"{server.url}/_standin/faults", json={"fail_for_seconds": 3600, "fail_status": 503},
                              timeout=5).raise_for_status()
            if minute == 5:
                requests.delete(f"{server.url}/_standin/faults", timeout=5).raise_for_status()
            tick = run_tick(instance, cursor, clock["now"], res)
            cursor = tick.cursor
            outcomes.append(not tick.outcome.failures and bool(tick.outcome.outcomes))
    assert outcomes == [True, True, False, False, False, True, True, True]

    land_all()
    first = (start - timedelta(minutes=15)).replace(second=0, tzinfo=None)
    last = (start + timedelta(minutes=7)).replace(second=0, tzinfo=None) - timedelta(minutes=1)
    with warehouse.connect(read_only=True) as db:
        minutes = db.execute("""
            SELECT zone, count(DISTINCT interval_start_utc), min(interval_start_utc), max(interval_start_utc)
            FROM observations WHERE zone IN ('DK-DK1', 'DK-DK2') GROUP BY zone ORDER BY zone""").fetchall()
    expected = int((last - first).total_seconds() // 60) + 1
    assert minutes == [("DK-DK1", expected, first, last), ("DK-DK2", expected, first, last)]


def dk_minutes(warehouse) -> list[tuple]:
    """Per DK zone: distinct minutes, first, last, and the most rows any one key has (1 = no duplicate)."""
    with warehouse.connect(read_only=True) as db:
        return db.execute("""
            SELECT zone, count(DISTINCT interval_start_utc), min(interval_start_utc), max(interval_start_utc),
                   max(n) FROM (SELECT zone, interval_start_utc, count(*) AS n FROM observations
                                WHERE zone IN ('DK-DK1', 'DK-DK2') GROUP BY zone, interval_start_utc, quantity)
            GROUP BY zone ORDER BY zone""").fetchall()


def test_a_hanging_provider_is_cut_off_by_the_tick_budget_and_the_next_tick_covers_it(tmp_path, bootstrap, warehouse,
                                                                                       land_all):
    from energy_orchestration.standin import StandinConfig, StandinServer

    clock = {"now": datetime.now(timezone.utc).replace(second=30, microsecond=0) - timedelta(hours=3)}
    start = clock["now"]
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=lambda: clock["now"])) as server, \
            dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        res = resources(server.url, bootstrap, warehouse)  # 5 s HTTP timeout, 4 attempts: far beyond the budget
        first = run_tick(instance, None, start, res)
        requests.post(f"{server.url}/_standin/faults", json={"latency_ms": 6000}, timeout=5).raise_for_status()
        clock["now"] = start + timedelta(minutes=1)
        began = time.monotonic()
        slow = run_tick(instance, first.cursor, clock["now"], res, budget_seconds=1.5)
        took = time.monotonic() - began
        [(window, why)] = slow.outcome.failures
        assert "budget" in why or "timed out" in why.lower(), why
        assert json.loads(slow.cursor)["acked"] == json.loads(first.cursor)["acked"]  # the cursor held
        assert [e.metadata["status"].value for e in slow.asset_events()] == ["failed"]
        assert slow.summary().startswith("FAILED for PowerSystemRightNow")
        requests.delete(f"{server.url}/_standin/faults", timeout=5).raise_for_status()
        clock["now"] = start + timedelta(minutes=2)
        after = run_tick(instance, slow.cursor, clock["now"], res)
        [covered] = after.outcome.outcomes
        assert after.outcome.failures == [] and covered.window.start <= window.start and covered.acked_until
    # bounded: the budget plus at most one slice of slack, never the 4 x 5 s the client alone would allow
    # (a bound on the mechanism, not a performance figure)
    assert took < 1.5 + 3.0, took
    land_all()
    begin = (start - timedelta(minutes=15)).replace(second=0, tzinfo=None)
    last = (start + timedelta(minutes=2)).replace(second=0, tzinfo=None) - timedelta(minutes=1)
    expected = int((last - begin).total_seconds() // 60) + 1
    assert dk_minutes(warehouse) == [("DK-DK1", expected, begin, last, 1), ("DK-DK2", expected, begin, last, 1)]


def test_a_tick_lost_after_publishing_is_repeated_without_gap_or_duplicate(tmp_path, bootstrap, warehouse, land_all):
    """The code server restarts after a tick published but before Dagster stored its cursor: the next
    evaluation starts from the stored (older) cursor, publishes the window again, and landing keeps
    one row per key."""
    from energy_orchestration.standin import StandinConfig, StandinServer

    clock = {"now": datetime.now(timezone.utc).replace(second=30, microsecond=0) - timedelta(hours=3)}
    start = clock["now"]
    with StandinServer(StandinConfig(rate_limit_per_minute=0, now=lambda: clock["now"])) as server, \
            dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        res = resources(server.url, bootstrap, warehouse)
        stored = run_tick(instance, None, start, res).cursor
        clock["now"] = start + timedelta(minutes=1)
        lost = run_tick(instance, stored, clock["now"], res)  # published and acknowledged, cursor never stored
        assert lost.outcome.outcomes[0].published > 0
        clock["now"] = start + timedelta(minutes=2)
        again = run_tick(instance, stored, clock["now"], res)  # the restarted server's first evaluation
        assert again.outcome.outcomes[0].window.start == lost.outcome.outcomes[0].window.start
        assert json.loads(again.cursor)["acked"]["PowerSystemRightNow"] == clock["now"].replace(second=0).isoformat()
    land_all()
    begin = (start - timedelta(minutes=15)).replace(second=0, tzinfo=None)
    last = (start + timedelta(minutes=2)).replace(second=0, tzinfo=None) - timedelta(minutes=1)
    expected = int((last - begin).total_seconds() // 60) + 1
    assert dk_minutes(warehouse) == [("DK-DK1", expected, begin, last, 1), ("DK-DK2", expected, begin, last, 1)]


def test_hourly_partitions_backfill_as_one_run_and_rebuild_in_place(tmp_path, standin, bootstrap, warehouse,
                                                                   land_all):
    from energy_orchestration.ingest import Window, fetch_and_publish
    from energy_orchestration.sources.energidataservice import EnergiDataServiceClient

    hour = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    fetch_and_publish(EnergiDataServiceClient(standin.url), bootstrap,
                      Window("PowerSystemRightNow", hour, hour + timedelta(hours=2)))
    land_all()
    keys = [hour_key(hour.replace(tzinfo=None)), hour_key((hour + timedelta(hours=1)).replace(tzinfo=None))]
    res = {"warehouse": WarehouseResource(path=str(warehouse.path))}
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize([zone_hourly], instance=instance, resources=res,
                                tags={"dagster/asset_partition_range_start": keys[0],
                                      "dagster/asset_partition_range_end": keys[1]})
        assert result.success
        materializations = result.asset_materializations_for_node("agg__zone_hourly")
        assert sorted(m.partition for m in materializations) == keys  # one run, both partitions
        assert materializations[0].metadata["dagster/row_count"].value == 2 * 3  # DK, DK1, DK2 per hour
        assert materializations[0].metadata["coverage_pct"].value == 100.0
        [check] = result.get_asset_check_evaluations()
        assert check.passed and check.metadata["missing_field_intervals"].value == 0
        # rebuilding replaces the partition instead of adding to it
        rebuild = dg.materialize([zone_hourly], instance=instance, resources=res, partition_key=keys[0])
        assert rebuild.success
    with warehouse.connect(read_only=True) as db:
        built_by = db.execute("SELECT DISTINCT hour_start_utc, built_by_run_id FROM zone_hourly ORDER BY 1").fetchall()
        assert [run for _, run in built_by] == [rebuild.run_id, result.run_id]  # explain names the run
        rows = db.execute("""SELECT hour_start_utc, count(*), min(coverage_pct) FROM zone_hourly
                             GROUP BY 1 ORDER BY 1""").fetchall()
        onshore = db.execute("""SELECT h.production_wind_onshore, avg(o.value) FROM zone_hourly h JOIN observations o
                                ON o.zone = h.zone AND date_trunc('hour', o.interval_start_utc) = h.hour_start_utc
                                WHERE o.quantity = 'production_wind_onshore' GROUP BY ALL""").fetchall()
    assert rows == [(hour.replace(tzinfo=None), 3, 100.0), ((hour + timedelta(hours=1)).replace(tzinfo=None), 3, 100.0)]
    assert len(onshore) == 2
    for mean, raw_mean in onshore:
        assert mean == pytest.approx(raw_mean)


def test_each_dataset_keeps_its_own_cadence_and_the_odre_budget_is_respected(tmp_path, monkeypatch):
    """PowerSystemRightNow every minute, the 5-minute sets every 5, éCO2mix once per quarter-hour
    after its publication lag; ODRÉ requests stop for the day when the budget is spent."""
    def windows_at(instance, cursor, now):
        decision, acked, spent = plan_fetch(instance, cursor, now, datasets=tuple(LIVE_DATASETS), policy=POLICY)
        cursor = json.dumps({"acked": acked, "spent": spent})
        if isinstance(decision, dg.SkipReason):
            return set(), cursor, decision
        return {w.dataset for w in decision}, cursor, decision


    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        start = datetime(2026, 11, 23, 10, 0, 30, tzinfo=timezone.utc)
        due_counts = {d: 0 for d in LIVE_DATASETS}
        cursor = None
        for minute in range(60):
            now = start + timedelta(minutes=minute)
            due, cursor, decision = windows_at(instance, cursor, now)
            for dataset in due:
                due_counts[dataset] += 1
            # acknowledge exactly the windows planned (their ends), as successful runs would
            state = json.loads(cursor)
            if due:
                for w in decision:
                    state["acked"][w.dataset] = w.end.isoformat()
            cursor = json.dumps(state)
        assert due_counts["PowerSystemRightNow"] == 60
        assert due_counts["CO2Emis"] == due_counts["ElectricityProdex5MinRealtime"] == 12
        # the first fetch, then each quarter-hour once published (+10 min lag): 10:10, 10:25, 10:40, 10:55
        assert due_counts["eco2mix-national-tr"] == due_counts["eco2mix-regional-tr"] == 5
        assert json.loads(cursor)["spent"]["odre"] > 0

        monkeypatch.setenv("ENERGY_ODRE_DAILY_REQUEST_BUDGET", str(json.loads(cursor)["spent"]["odre"]))
        later = start + timedelta(minutes=75)
        due, cursor, _ = windows_at(instance, cursor, later)
        assert "eco2mix-regional-tr" not in due and "PowerSystemRightNow" in due
