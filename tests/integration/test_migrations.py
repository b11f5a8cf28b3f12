"""An existing warehouse file upgrades in place: the data it holds survives every migration."""

from datetime import datetime

import duckdb
import pytest

from energy_orchestration.warehouse import Warehouse
from energy_orchestration.warehouse.schema import MIGRATIONS

pytestmark = pytest.mark.integration


def test_a_version_3_file_upgrades_and_keeps_its_quarantine(tmp_path):
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:  # a file as the previous release left it
        old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for number, statement in enumerate(MIGRATIONS[:3], start=1):
            old.execute(statement)
            old.execute("INSERT INTO schema_version VALUES (?)", [number])
        old.execute("""INSERT INTO quarantine VALUES ('t/0/1', 'not_a_number', 'SolarPower', 'value',
                       'PowerSystemRightNow',
                       '2025-01-01T00:00:00', NULL, 'not a number', '{}', ?)""", [datetime(2025, 1, 1)])
        old.execute("""INSERT INTO ingest_log VALUES ('b', 'CO2Emis', 'g', ?, 3, 6, 0, 0, NULL, NULL, '{}', '{}')""",
                    [datetime(2025, 1, 1)])
    with Warehouse(path).transaction() as db:
        assert db.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] == len(MIGRATIONS)
        assert db.execute("SELECT source_id, zone, interval_start_utc FROM quarantine").fetchall() == [
            ("t/0/1", "", None)]
        tables = {t for (t,) in db.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        # rows written are unknown for batches logged before migration 5: NULL, not a made-up 0
        assert db.execute("""SELECT messages, observations_new, observations_changed, observations_unchanged
                             FROM ingest_log""").fetchall() == [(3, None, None, None)]
    assert {"zone_hourly", "zone_daily", "zone_weekly", "zone_monthly"} <= tables and "agg_hourly" not in tables
