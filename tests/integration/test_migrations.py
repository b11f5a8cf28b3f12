"""An existing warehouse file upgrades in place: the data it holds survives every migration."""

from datetime import datetime

import duckdb
import pytest

from energy_orchestration.warehouse import Warehouse, schema
from energy_orchestration.warehouse.schema import MIGRATIONS, enum_values, sync_vocabulary, vocabulary

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


OBSERVATION_ROWS = [  # (dataset, zone, quantity, value, status) as an older release stored them
    ("PowerSystemRightNow", "DK-DK1", "production_solar", 120.5, "realtime"),
    ("PowerSystemRightNow", "DK-DK1", "production_wave", 3.0, "realtime"),  # a quantity since renamed
    ("eco2mix-national-tr", "FR", "production_nuclear", 40000.0, "consolidated"),
]


def _file_before_enums(path) -> None:
    """A warehouse as the release before ENUM columns left it: VARCHAR categoricals, rows in
    ``observations`` and one superseded version in ``observation_revisions``."""
    with duckdb.connect(str(path)) as old:
        old.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for number, statement in enumerate(MIGRATIONS, start=1):
            old.execute(statement)
            old.execute("INSERT INTO schema_version VALUES (?)", [number])
        for dataset, zone, quantity, value, status in OBSERVATION_ROWS:
            old.execute("INSERT INTO observations VALUES (?, ?, ?, ?, 1, ?, 'MW', ?, NULL, 0, 7, ?)",
                        [dataset, zone, quantity, datetime(2025, 1, 1, 12), value, status, datetime(2025, 1, 2)])
        old.execute("""INSERT INTO observation_revisions VALUES ('PowerSystemRightNow', 'DK-DK1', 'production_solar',
                       ?, 1, 99.0, 'MW', 'realtime', NULL, 0, 3, ?, ?)""",
                    [datetime(2025, 1, 1, 12), datetime(2025, 1, 1, 13), datetime(2025, 1, 2)])


def _column_types(db) -> dict[str, str]:
    return dict(db.execute("""SELECT column_name, data_type FROM duckdb_columns()
                              WHERE table_name = 'observations'""").fetchall())


def test_a_file_from_before_enums_keeps_every_observation_and_gets_enum_columns(tmp_path):
    path = tmp_path / "old.duckdb"
    _file_before_enums(path)
    with Warehouse(path).transaction() as db:
        types = _column_types(db)
        for column, values in vocabulary().items():
            assert types[column].startswith("ENUM("), column
            assert set(values) <= set(enum_values(types[column])), column
        # a stored value the code no longer has stays, in the type and in the row
        assert "production_wave" in enum_values(types["quantity"])
        assert db.execute("""SELECT dataset::VARCHAR, zone::VARCHAR, quantity::VARCHAR, value, status::VARCHAR
                             FROM observations ORDER BY value""").fetchall() == sorted(
            OBSERVATION_ROWS, key=lambda row: row[3])
        # the views over observations still answer, history included
        assert db.execute("""SELECT value, is_current FROM observation_history
                             WHERE quantity = 'production_solar' ORDER BY valid_from_utc""").fetchall() == [
            (99.0, False), (120.5, True)]
        assert db.execute("SELECT count(*) FROM co2_intensity").fetchall()[0][0] == 2
    with Warehouse(path).transaction() as db:  # the next writer finds nothing to retype
        assert sync_vocabulary(db) == []


def test_a_grown_vocabulary_widens_the_enum_once_and_an_unknown_value_is_refused(tmp_path, monkeypatch):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    row = "INSERT INTO observations VALUES ('PowerSystemRightNow', ?, 'consumption', ?, 1, 5.0, 'MW', 'realtime', " \
          "NULL, 0, 1, ?)"
    with warehouse.transaction() as db:
        db.execute(row, ["DK-DK1", datetime(2025, 1, 1), datetime(2025, 1, 2)])
    with pytest.raises(duckdb.ConversionException), warehouse.transaction() as db:
        db.execute(row, ["SE-SE3", datetime(2025, 1, 1), datetime(2025, 1, 2)])  # outside the vocabulary: refused
    current = schema.vocabulary()
    monkeypatch.setattr(schema, "vocabulary", lambda: {**current, "zone": sorted([*current["zone"], "SE-SE3"])})
    with warehouse.transaction() as db:  # the first writer of the new code retypes the column
        assert "SE-SE3" in enum_values(_column_types(db)["zone"])
        db.execute(row, ["SE-SE3", datetime(2025, 1, 1), datetime(2025, 1, 2)])
        assert sync_vocabulary(db) == []
        assert db.execute("SELECT zone::VARCHAR FROM observations ORDER BY zone::VARCHAR").fetchall() == [
            ("DK-DK1",), ("SE-SE3",)]
