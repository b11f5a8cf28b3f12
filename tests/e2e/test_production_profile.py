"""The production profile run for real: PostgreSQL (throwaway cluster, unprivileged), an
external Kafka (the embedded broker started separately, reached only through
KAFKA_BOOTSTRAP_SERVERS), and the five services as their own processes — gRPC code server,
dagster-webserver, dagster-daemon wired by workspace.yaml, the landing consumer, the API.

One test, in phases, because each phase needs the previous one's state: live data lands and
aggregates build; a backfill launched over GraphQL completes; daemon and code server are
killed and restarted and the fetch sensor resumes from its cursor (kept in PostgreSQL) with no
gap and no duplicate; the run cleanup job deletes runs from PostgreSQL. The warehouse is
DuckLake, as in docker/compose.yaml: its catalog in its own database of the same PostgreSQL,
its Parquet files in tmp; the DuckLake maintenance job runs at the end.
"""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date

import psycopg2
import pytest
import requests

from energy_orchestration.assets.history import HISTORY_DATASETS, history_asset_key
from energy_orchestration.assets.keys import LIVE_DATASETS, raw_asset_key
from energy_orchestration.backfill import launch, progress
from energy_orchestration.profiles.postgres import LocalPostgres
from energy_orchestration.profiles.production import ProductionStack
from energy_orchestration.streaming.broker import EmbeddedBroker, free_port
from energy_orchestration.warehouse import WarehouseMissing
from energy_orchestration.warehouse.lake import DuckLakeWarehouse

# the whole stack as processes, minutes long on 2 cores: above the suite-wide 300 s timeout
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

LOCATION = {"repositoryLocationName": "energy_orchestration", "repositoryName": "__repository__"}
RUNS = """
query { runsOrError { ... on Runs { results { runId status } } } }
"""
FETCH_OBSERVATIONS = """
query($key: AssetKeyInput!) { assetOrError(assetKey: $key) {
  ... on Asset { assetObservations(limit: 1000) { metadataEntries { label ... on TextMetadataEntry { text } } } } } }
"""
SENSOR_CURSOR = """
query($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) {
  ... on Sensor { sensorState { status typeSpecificData { ... on SensorData { lastCursor } } } } } }
"""
LAUNCH_RUN = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }
"""
RUN_STATUS = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"""
IN_FLIGHT = """
query { runsOrError(filter: {pipelineName: "fetch_job",
                              statuses: [QUEUED, NOT_STARTED, STARTING, STARTED, CANCELING]}) {
  ... on Runs { results { runId } } } }
"""
RUN_COUNT = """query { runsOrError { ... on Runs { count } } }"""
BACKFILL_DAY = date(2025, 1, 6)


def gql(stack: ProductionStack, query: str, variables: dict | None = None) -> dict:
    answer = requests.post(stack.graphql_url, json={"query": query, "variables": variables or {}}, timeout=30)
    answer.raise_for_status()
    body = answer.json()
    assert not body.get("errors"), body["errors"]
    return body["data"]


def wait_for(what: str, condition, timeout: float, stack: ProductionStack, every: float = 2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert not stack.dead(), f"{stack.dead()} died while waiting for {what}"
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def fetch_windows(stack: ProductionStack) -> list[tuple[str, str, str]]:
    """(dataset, start, end) of every window a live sensor tick published (its observations on
    ``raw/*``), oldest window first."""
    found = []
    for dataset in LIVE_DATASETS:
        key = {"path": list(raw_asset_key(dataset).path)}
        asset = gql(stack, FETCH_OBSERVATIONS, {"key": key})["assetOrError"]
        for observation in (asset or {}).get("assetObservations") or []:
            meta = {e["label"]: e.get("text") for e in observation["metadataEntries"]}
            if meta.get("status") == "published":
                found.append((dataset, meta["window_start"], meta["window_end"]))
    return sorted(found, key=lambda w: (w[0], w[2]))


def fetch_cursor(stack: ProductionStack) -> dict:
    selector = {**LOCATION, "sensorName": "fetch_sensor"}
    # {} while the code server is (re)loading: sensorOrError is then an error, not a Sensor
    state = gql(stack, SENSOR_CURSOR, {"selector": selector})["sensorOrError"].get("sensorState")
    if not state:
        return {}
    cursor = (state.get("typeSpecificData") or {}).get("lastCursor")
    return json.loads(cursor) if cursor else {}


def run_job(stack: ProductionStack, job: str, run_config: dict) -> str:
    params = {"selector": {**LOCATION, "jobName": job}, "runConfigData": run_config}
    answer = gql(stack, LAUNCH_RUN, {"params": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id = answer["run"]["runId"]
    wait_for(f"{job} run", lambda: gql(stack, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
             in ("SUCCESS", "FAILURE", "CANCELED"), 180, stack)
    assert gql(stack, RUN_STATUS, {"id": run_id})["runOrError"]["status"] == "SUCCESS"
    return run_id


def test_production_profile_runs_heals_and_cleans_up(tmp_path):
    began = time.monotonic()
    standin_port, api_port = free_port(), free_port()
    with LocalPostgres() as pg, EmbeddedBroker(log_file=tmp_path / "broker.log") as broker:
        pg.create_database("energy_lake")
        lake_url = f"ducklake:postgres:host=127.0.0.1 port={pg.port} dbname=energy_lake user={pg.user}"
        standin_url = f"http://127.0.0.1:{standin_port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ENERGY_", "KAFKA_", "DAGSTER_"))}
        env.update({"KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                    "ENERGY_WAREHOUSE_PATH": str(tmp_path / "warehouse.duckdb"),
                    "ENERGY_WAREHOUSE_URL": lake_url, "ENERGY_WAREHOUSE_CATALOG_PASSWORD": pg.password,
                    "ENERGY_WAREHOUSE_DATA_PATH": str(tmp_path / "lake") + "/",
                    "ENERGY_EDS_BASE_URL": standin_url, "ENERGY_ODRE_BASE_URL": standin_url,
                    "ENERGY_API_HOST": "127.0.0.1", "ENERGY_API_PORT": str(api_port),
                    # far enough back that the first fetch holds an hour closed for > 12 min,
                    # which the landing sensor builds at once
                    "ENERGY_FETCH_INITIAL_LOOKBACK_MINUTES": "130", **pg.connection_env()})
        standin = subprocess.Popen([sys.executable, "-m", "energy_orchestration.cli", "standin",
                                    "--port", str(standin_port)], env=env, start_new_session=True,
                                   stdout=open(tmp_path / "standin.log", "wb"), stderr=subprocess.STDOUT)
        stack = ProductionStack(env, tmp_path / "production", free_port(), free_port())
        try:
            started = time.monotonic()
            stack.start()
            startup = time.monotonic() - started
            print(f"production profile up in {startup:.1f}s: {stack.startup_seconds}")
            home = stack.home / "dagster_home"
            assert not list(home.rglob("*.db")), "instance state must be in PostgreSQL, not in SQLite files"

            # 1. live data lands, the API serves it, and an hourly aggregate is built
            warehouse = DuckLakeWarehouse(tmp_path / "warehouse.duckdb", url=lake_url,
                                          data_path=str(tmp_path / "lake") + "/", catalog_password=pg.password)

            def hourly_rows() -> int:
                try:
                    with warehouse.connect(read_only=True) as db:
                        return db.execute("SELECT count(*) FROM zone_hourly WHERE zone = 'DK-DK1'").fetchone()[0]
                except WarehouseMissing:  # the consumer has not created the catalog's tables yet
                    return 0

            wait_for("a live hour of zone_hourly", hourly_rows, 300, stack, every=5)
            latest = wait_for("latest DK-DK1 values from the API", lambda: requests.get(
                f"http://127.0.0.1:{api_port}/api/v1/zones/DK-DK1/latest", timeout=10).json()["values"], 60, stack)
            assert latest
            # no embedded-broker shortcut in this mode: the API's cache starts at the newest messages
            assert "from the newest messages" in (stack.logs / "api.log").read_text()

            # 2. a backfill launched over GraphQL completes and builds its day
            backfill = launch(stack.graphql_url, [list(history_asset_key(d).path) for d in HISTORY_DATASETS],
                              BACKFILL_DAY, BACKFILL_DAY)
            done = wait_for("the backfill", lambda: (lambda p: p if p.finished else None)(
                progress(stack.graphql_url, backfill)), 300, stack, every=3)
            assert done.failed == 0 and done.materialized == done.targeted == len(HISTORY_DATASETS), done

            def backfilled_day_built() -> bool:
                with warehouse.connect(read_only=True) as db:
                    return db.execute("SELECT count(*) FROM zone_daily WHERE local_date = ? AND hours_present = 24",
                                      [BACKFILL_DAY]).fetchone()[0] > 0

            wait_for("the backfilled day in zone_daily", backfilled_day_built, 300, stack, every=5)

            # 3. kill daemon and code server; restart; the fetch sensor resumes from its cursor.
            # The live fetch runs inside the sensor's tick (in the code server); the daemon goes
            # first and the code server once no fetch_job run (gap repair) is in flight: runs
            # execute as the code server's subprocesses (default run launcher), so killing it
            # mid-run leaves a run STARTED that nothing can fail (see the report/docs) and the
            # fetch concurrency slot (limit 1) held.
            stack.kill("daemon")
            wait_for("no fetch run in flight", lambda: not gql(stack, IN_FLIGHT)["runsOrError"]["results"], 180, stack)
            cursor_before = fetch_cursor(stack)
            assert "PowerSystemRightNow" in cursor_before.get("acked", {}), cursor_before
            stack.kill("code")
            time.sleep(5)
            restart_seconds = stack.restart("code") + stack.restart("daemon")
            psrn_before = cursor_before.get("acked", {}).get("PowerSystemRightNow", "")
            cursor_after = wait_for("a fetching tick after the restart", lambda: (lambda c: c if c.get(
                "acked", {}).get("PowerSystemRightNow", "") > psrn_before else None)(fetch_cursor(stack)), 300, stack,
                every=5)
            after = fetch_windows(stack)
            print(f"restart in {restart_seconds:.1f}s; cursor before {cursor_before.get('acked')}, "
                  f"after {cursor_after.get('acked')}")
            for dataset, acked in cursor_before.get("acked", {}).items():
                assert cursor_after["acked"][dataset] >= acked
            per_dataset: dict[str, list[tuple[str, str]]] = {}
            for dataset, start, end in after:
                per_dataset.setdefault(dataset, []).append((start, end))
            for dataset, windows in per_dataset.items():
                for (_s1, end1), (start2, _e2) in zip(windows, windows[1:], strict=False):
                    assert start2 <= end1, f"{dataset}: gap between windows ending {end1} and starting {start2}"
            with warehouse.connect(read_only=True) as db:
                duplicates = db.execute("""SELECT count(*) FROM (SELECT dataset, zone, quantity, interval_start_utc
                    FROM observations GROUP BY ALL HAVING count(*) > 1)""").fetchone()[0]
                minutes = db.execute("""SELECT count(DISTINCT interval_start_utc),
                    datediff('minute', min(interval_start_utc), max(interval_start_utc)) + 1
                    FROM observations WHERE dataset = 'PowerSystemRightNow' AND zone = 'DK-DK1'
                      AND interval_start_utc > now()::TIMESTAMP - INTERVAL 6 HOUR""").fetchone()
            assert duplicates == 0
            assert minutes[0] == minutes[1], f"live minutes present {minutes[0]} of {minutes[1]}: a gap"
            print(f"after restart: {len(after)} windows, 0 duplicate keys, {minutes[0]}/{minutes[1]} minutes")

            # 4. run cleanup against PostgreSQL: a real run (the oldest that succeeded, e.g. a live
            # hour's build), aged ten days in the runs table, is deleted with its event log; the
            # recent runs stay
            succeeded = [r["runId"] for r in gql(stack, RUNS)["runsOrError"]["results"] if r["status"] == "SUCCESS"]
            old_run, recent_runs = succeeded[-1], succeeded[:-1]
            with psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password,
                                  dbname=pg.database) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", [old_run])
                assert cur.fetchone()[0] > 0
                cur.execute("UPDATE runs SET create_timestamp = create_timestamp - interval '10 days' "
                            "WHERE run_id = %s", [old_run])
            runs_before_cleanup = gql(stack, RUN_COUNT)["runsOrError"]["count"]
            cleanup = run_job(stack, "run_cleanup_job",
                              {"ops": {"delete_old_runs_op": {"config": {"retention_days": 7}}}})
            runs_after_cleanup = gql(stack, RUN_COUNT)["runsOrError"]["count"]
            with psycopg2.connect(host="127.0.0.1", port=pg.port, user=pg.user, password=pg.password,
                                  dbname=pg.database) as conn, conn.cursor() as cur:
                cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", [old_run])
                assert cur.fetchone()[0] == 0
                cur.execute("SELECT count(*) FROM event_logs WHERE run_id = %s", [old_run])
                assert cur.fetchone()[0] == 0
                cur.execute("SELECT count(*) FROM runs WHERE run_id = ANY(%s)", [recent_runs])
                assert cur.fetchone()[0] > 0
                cur.execute("SELECT count(*) FROM runs WHERE run_id = %s", [cleanup])
                assert cur.fetchone()[0] == 1
            print(f"cleanup: runs {runs_before_cleanup} -> {runs_after_cleanup}")

            # 5. the DuckLake maintenance job compacts and expires while the services keep writing
            files_before = _live_data_files(warehouse)
            run_job(stack, "lake_maintenance_job", {"ops": {"maintain_lake_op": {"config": {
                "snapshot_retention_hours": 0}}}})
            with warehouse.connect(read_only=True) as db:
                assert db.execute("SELECT count(*) FROM observations").fetchone()[0] > 0
                assert db.execute("SELECT count(*) FROM ducklake_snapshots('lake')").fetchone()[0] < 20
            print(f"lake maintenance: live data files {files_before} -> {_live_data_files(warehouse)}; "
                  f"test took {time.monotonic() - began:.0f}s")
        finally:
            stack.stop()
            os.killpg(standin.pid, signal.SIGTERM)
            standin.wait(10)


def _live_data_files(warehouse: DuckLakeWarehouse) -> int:
    with warehouse.connect(read_only=True) as db:
        return db.execute("SELECT count(*) FROM __ducklake_metadata_lake.ducklake_data_file "
                          "WHERE end_snapshot IS NULL").fetchone()[0]
