"""Warehouse tables, created by numbered migrations so an existing file upgrades in place.

All timestamps are naive ``TIMESTAMP`` values in UTC (columns end in ``_utc``): DuckDB's
``TIMESTAMPTZ`` renders in the session's zone, which would make the same query print
different hours on different machines.
"""

from __future__ import annotations

import re

import duckdb

from energy_orchestration.model import QUANTITIES, ZONES, DataStatus, Unit

DERIVED_MEASURES: tuple[str, ...] = (
    "co2_intensity_computed", "production_total", "renewable_total", "renewable_share_pct",
    "production_mwh", "renewable_mwh", "consumption_mwh", "exchange_net_mwh",
)
"""Columns every zone table has besides one mean column per quantity of the vocabulary."""

PERIOD_TABLES: dict[str, str] = {"daily": "zone_daily", "weekly": "zone_weekly", "monthly": "zone_monthly"}
PERIOD_KEYS: dict[str, str] = {"daily": "local_date", "weekly": "week_start", "monthly": "month_start"}


def measure_columns() -> list[str]:
    return [*QUANTITIES, *DERIVED_MEASURES]


def zone_tables_sql() -> str:
    """DDL of the wide zone tables, from the vocabulary of the time it ran.

    The tables are derived data: a later vocabulary change needs a migration that drops and
    recreates them, after which a backfill rebuilds them from ``observations``.
    """
    measures = ",\n        ".join(f"{name} DOUBLE" for name in measure_columns())
    hourly = f"""
    CREATE TABLE zone_hourly (
        zone VARCHAR NOT NULL, hour_start_utc TIMESTAMP NOT NULL, local_date DATE NOT NULL,
        time_zone VARCHAR NOT NULL,
        {measures},
        fields INTEGER NOT NULL, minutes_present INTEGER NOT NULL, minutes_expected INTEGER NOT NULL,
        coverage_pct DOUBLE NOT NULL, datasets VARCHAR NOT NULL, built_at_utc TIMESTAMP NOT NULL,
        PRIMARY KEY (zone, hour_start_utc)
    );"""
    periods = "".join(f"""
    CREATE TABLE {table} (
        zone VARCHAR NOT NULL, {PERIOD_KEYS[grain]} DATE NOT NULL, time_zone VARCHAR NOT NULL,
        period_start_utc TIMESTAMP NOT NULL, period_end_utc TIMESTAMP NOT NULL,
        hours_expected INTEGER NOT NULL, hours_present INTEGER NOT NULL,
        {measures},
        coverage_pct DOUBLE NOT NULL, built_at_utc TIMESTAMP NOT NULL,
        PRIMARY KEY (zone, {PERIOD_KEYS[grain]})
    );""" for grain, table in PERIOD_TABLES.items())
    return hourly + periods


MIGRATIONS: tuple[str, ...] = (
    # 1: landing tables
    """
    CREATE TABLE observations (
        dataset            VARCHAR   NOT NULL,
        zone               VARCHAR   NOT NULL,
        quantity           VARCHAR   NOT NULL,
        interval_start_utc TIMESTAMP NOT NULL,
        interval_minutes   SMALLINT  NOT NULL,
        value              DOUBLE    NOT NULL,
        unit               VARCHAR   NOT NULL,
        status             VARCHAR   NOT NULL,
        fetched_at_utc     TIMESTAMP,
        kafka_partition    INTEGER,
        kafka_offset       BIGINT,
        landed_at_utc      TIMESTAMP NOT NULL
        -- natural key (dataset, zone, quantity, interval_start_utc) is kept unique by
        -- landing.py's upsert, not by an index: see _upsert_observations for why
    );
    CREATE TABLE raw_records (
        dataset            VARCHAR   NOT NULL,
        record_key         VARCHAR   NOT NULL,
        interval_start_utc TIMESTAMP,
        payload            JSON      NOT NULL,
        fetched_at_utc     TIMESTAMP,
        kafka_partition    INTEGER,
        kafka_offset       BIGINT,
        landed_at_utc      TIMESTAMP NOT NULL,
        PRIMARY KEY (dataset, record_key)
    );
    CREATE TABLE quarantine (
        source_id          VARCHAR   NOT NULL,  -- topic/partition/offset, or fetch:<url> for pages
        rule               VARCHAR   NOT NULL,
        quantity           VARCHAR   NOT NULL DEFAULT '',
        stage              VARCHAR   NOT NULL,  -- fetch | decode | record | value
        dataset            VARCHAR,
        record_key         VARCHAR,
        zone               VARCHAR,
        reason             VARCHAR   NOT NULL,
        payload            VARCHAR,
        quarantined_at_utc TIMESTAMP NOT NULL,
        PRIMARY KEY (source_id, rule, quantity)
    );
    CREATE TABLE ingest_log (
        batch_id           VARCHAR   NOT NULL,
        dataset            VARCHAR   NOT NULL,
        consumer_group     VARCHAR   NOT NULL,
        landed_at_utc      TIMESTAMP NOT NULL,
        messages           INTEGER   NOT NULL,
        observations       INTEGER   NOT NULL,
        quarantined        INTEGER   NOT NULL,
        dead_lettered      INTEGER   NOT NULL,
        min_interval_utc   TIMESTAMP,
        max_interval_utc   TIMESTAMP,
        offsets            JSON,      -- {"topic/partition": [first, last]}
        lag                JSON,      -- {"topic/partition": high watermark - next offset}
        PRIMARY KEY (batch_id, dataset)
    );
    """,
    # 2: first aggregate
    """
    CREATE TABLE agg_hourly (
        dataset            VARCHAR   NOT NULL,
        zone               VARCHAR   NOT NULL,
        quantity           VARCHAR   NOT NULL,
        hour_start_utc     TIMESTAMP NOT NULL,
        unit               VARCHAR   NOT NULL,
        mean_value         DOUBLE,
        min_value          DOUBLE,
        max_value          DOUBLE,
        energy_mwh         DOUBLE,   -- only for MW quantities: sum(value * minutes / 60)
        minutes_present    INTEGER   NOT NULL,
        minutes_expected   INTEGER   NOT NULL,
        built_at_utc       TIMESTAMP NOT NULL,
        PRIMARY KEY (dataset, zone, quantity, hour_start_utc)
    );
    """,
    # 3: emission factors (seeded from emission_factors.py on every migrate) and CO2 intensity
    # per zone and interval, reported and computed kept apart
    """
    CREATE TABLE emission_factors (
        version          VARCHAR NOT NULL,
        zone             VARCHAR NOT NULL,
        mode             VARCHAR NOT NULL,
        g_co2eq_per_kwh  DOUBLE  NOT NULL,
        source           VARCHAR NOT NULL,
        PRIMARY KEY (version, zone, mode)
    );
    CREATE VIEW co2_intensity AS
    WITH production AS (
        SELECT o.dataset, o.zone, o.interval_start_utc, replace(o.quantity, 'production_', '') AS mode, o.value
        FROM observations o WHERE starts_with(o.quantity, 'production_')
    ),
    factors AS (  -- the zone's own factor where it has one, else the default
        SELECT z.zone, f.mode, coalesce(o.g_co2eq_per_kwh, f.g_co2eq_per_kwh) AS factor, f.version
        FROM (SELECT DISTINCT zone FROM observations) z
        CROSS JOIN emission_factors f
        LEFT JOIN emission_factors o ON o.version = f.version AND o.zone = z.zone AND o.mode = f.mode
        WHERE f.zone = '*' AND f.version = (SELECT max(version) FROM emission_factors)
    ),
    computed AS (
        SELECT p.dataset, p.zone, p.interval_start_utc,
               sum(p.value * f.factor) / nullif(sum(p.value), 0) AS computed, any_value(f.version) AS factor_version,
               sum(p.value) AS production_mw
        FROM production p JOIN factors f ON f.zone = p.zone AND f.mode = p.mode
        GROUP BY ALL
    ),
    reported AS (
        SELECT dataset, zone, interval_start_utc, value AS reported FROM observations
        WHERE quantity = 'co2_intensity_reported'
    )
    SELECT coalesce(c.dataset, r.dataset) AS dataset, coalesce(c.zone, r.zone) AS zone,
           coalesce(c.interval_start_utc, r.interval_start_utc) AS interval_start_utc,
           r.reported, c.computed, c.factor_version, c.production_mw
    FROM computed c FULL OUTER JOIN reported r
      ON r.dataset = c.dataset AND r.zone = c.zone AND r.interval_start_utc = c.interval_start_utc;
    """,
    # 4: wide per-zone aggregates (hour, local day, local week, local month) replace the long
    # agg_hourly; quarantined values remember their interval so completeness checks can tell
    # "refused, with a reason" from "never arrived"
    """
    DROP TABLE agg_hourly;
    CREATE TABLE quarantine_v4 (
        source_id          VARCHAR   NOT NULL,
        rule               VARCHAR   NOT NULL,
        quantity           VARCHAR   NOT NULL DEFAULT '',
        zone               VARCHAR   NOT NULL DEFAULT '',  -- '' = the whole record / no zone
        stage              VARCHAR   NOT NULL,
        dataset            VARCHAR,
        record_key         VARCHAR,
        reason             VARCHAR   NOT NULL,
        payload            VARCHAR,
        quarantined_at_utc TIMESTAMP NOT NULL,
        interval_start_utc TIMESTAMP,
        -- zone is part of the key: one provider record can be refused for the same quantity in
        -- two zones (Exchange_DK1_DE and Exchange_DK2_DE are both exchange_de)
        PRIMARY KEY (source_id, rule, quantity, zone)
    );
    INSERT INTO quarantine_v4 BY NAME
        SELECT * REPLACE (coalesce(zone, '') AS zone), NULL::TIMESTAMP AS interval_start_utc FROM quarantine;
    DROP TABLE quarantine;
    ALTER TABLE quarantine_v4 RENAME TO quarantine;
    """ + zone_tables_sql(),
    # 5: the ingest log says what a batch wrote, not only what it read: a replay that changes
    # nothing shows 0 new / 0 changed (NULL for batches logged before this migration)
    """
    ALTER TABLE ingest_log ADD COLUMN observations_new INTEGER;
    ALTER TABLE ingest_log ADD COLUMN observations_changed INTEGER;
    ALTER TABLE ingest_log ADD COLUMN observations_unchanged INTEGER;
    """,
    # 6: every revision kept. ``observations`` holds the newest value per natural key (at the
    # same speed as before); the version a revision replaces moves to ``observation_revisions``
    # in the same transaction, stamped with when it stopped being current. The view
    # ``observation_history`` joins both with a validity range, so "what did the platform know
    # at T" is ``WHERE valid_from_utc <= T AND (valid_to_utc IS NULL OR valid_to_utc > T)``.
    # No constraints or indexes: the table is append-only and must work on DuckLake too.
    """
    CREATE TABLE observation_revisions (
        dataset            VARCHAR   NOT NULL,
        zone               VARCHAR   NOT NULL,
        quantity           VARCHAR   NOT NULL,
        interval_start_utc TIMESTAMP NOT NULL,
        interval_minutes   SMALLINT  NOT NULL,
        value              DOUBLE    NOT NULL,
        unit               VARCHAR   NOT NULL,
        status             VARCHAR   NOT NULL,  -- realtime | consolidated | definitive | estimated
        fetched_at_utc     TIMESTAMP,
        kafka_partition    INTEGER,
        kafka_offset       BIGINT,
        landed_at_utc      TIMESTAMP NOT NULL,  -- when this version became current
        superseded_at_utc  TIMESTAMP NOT NULL   -- when the next version landed
    );
    CREATE VIEW observation_history AS
    SELECT dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit, status,
           fetched_at_utc, kafka_partition, kafka_offset,
           landed_at_utc AS valid_from_utc, NULL::TIMESTAMP AS valid_to_utc, true AS is_current
    FROM observations
    UNION ALL
    SELECT dataset, zone, quantity, interval_start_utc, interval_minutes, value, unit, status,
           fetched_at_utc, kafka_partition, kafka_offset,
           landed_at_utc AS valid_from_utc, superseded_at_utc AS valid_to_utc, false AS is_current
    FROM observation_revisions;
    """,
    # 7: which Dagster run built each aggregate row (NULL when built outside Dagster), so
    # ``explain`` can name the run behind a number
    """
    ALTER TABLE zone_hourly ADD COLUMN built_by_run_id VARCHAR;
    ALTER TABLE zone_daily ADD COLUMN built_by_run_id VARCHAR;
    ALTER TABLE zone_weekly ADD COLUMN built_by_run_id VARCHAR;
    ALTER TABLE zone_monthly ADD COLUMN built_by_run_id VARCHAR;
    """,
)


def without_constraints(statement: str) -> str:
    """A migration's DDL with PRIMARY KEY / UNIQUE removed, for DuckLake (which refuses them).

    ``MIGRATIONS`` stays the one schema: the keys only ever guarded uniqueness, which the writes
    in landing.py and aggregates.py keep themselves (anti-joins, DELETE + INSERT), so the same
    statements minus the constraints give the same tables. Comments go first: one sits between
    a column and its PRIMARY KEY clause."""
    text = re.sub(r"--[^\n]*", "", statement)
    text = re.sub(r",\s*(PRIMARY\s+KEY|UNIQUE)\s*\([^)]*\)", "", text, flags=re.IGNORECASE)
    return re.sub(r"\s+(PRIMARY\s+KEY|UNIQUE)\b", "", text, flags=re.IGNORECASE)


def migrate(connection: duckdb.DuckDBPyConnection, *, constraints: bool = True, guard: str | None = None,
            enums: bool = True) -> None:
    """Apply the migrations this file has not seen yet, then make sure the reference data
    (emission factors) is present; cheap when everything is up to date. ``constraints=False``
    (DuckLake) applies them through :func:`without_constraints`. ``guard`` (DuckLake) is a
    statement run first in each of these transactions so that two processes migrating at once
    conflict (and one retries) instead of both applying a migration or seeding twice.
    ``enums`` (the file backend; DuckLake has no ENUM type) keeps the categorical columns of
    ``observations`` ENUMs of the code's vocabulary (:func:`sync_vocabulary`)."""
    connection.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = connection.execute("SELECT max(version) FROM schema_version").fetchall()[0]
    current = row[0] if row and row[0] is not None else 0
    for number, statement in enumerate(MIGRATIONS, start=1):
        if number <= current:
            continue
        connection.execute("BEGIN TRANSACTION")
        try:
            if guard:  # and look again inside the transaction: another process may have been first
                connection.execute(guard)
                if (connection.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] or 0) >= number:
                    connection.execute("ROLLBACK")
                    continue
            connection.execute(statement if constraints else without_constraints(statement))
            connection.execute("INSERT INTO schema_version VALUES (?)", [number])
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")  # outside the try: a failed commit is already rolled back
    if enums:
        sync_vocabulary(connection)
    if guard is None:
        _seed_emission_factors(connection)
        return
    connection.execute("BEGIN TRANSACTION")
    try:
        connection.execute(guard)
        _seed_emission_factors(connection)
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


VOCABULARY_TABLE = "observations"


def vocabulary() -> dict[str, list[str]]:
    """Every value the code writes into each categorical column of ``observations``, sorted (so
    ordering by an ENUM column gives the same order as by its text).

    The parsers emit nothing else: a zone outside :data:`~energy_orchestration.model.ZONES` is
    refused (``unknown_zone``) and mappings name quantities of the vocabulary (contract tests).
    ``dataset`` stays VARCHAR: its names are the providers' registry (``sources``), a layer above
    the warehouse."""
    return {"zone": sorted(ZONES), "quantity": sorted(QUANTITIES),
            "unit": sorted(unit.value for unit in Unit), "status": sorted(status.value for status in DataStatus)}


def sync_vocabulary(connection: duckdb.DuckDBPyConnection) -> list[str]:
    """Keep each categorical column of ``observations`` an ENUM holding the code's vocabulary;
    returns the columns it (re)typed.

    Why ENUMs: landing inserts ~23 canonical rows per provider record, and building and storing a
    VARCHAR per row for these columns was most of the insert (benchmarks/README.md, issue 11,
    ninth pass).

    DuckDB cannot add a value to an ENUM in place, so a vocabulary the stored type lacks (a new
    zone or quantity in a release, or a file from before ENUMs) retypes the column: a
    rewrite of that column, once, by the first writer of the new code (about a second per ten
    million rows). Values stored earlier are kept in the new type even if the code no longer
    has them, so the rewrite never fails on old rows. Cheap when nothing changed: one catalog
    query per write connection."""
    stored = {name: data_type for name, data_type in connection.execute("""
        SELECT column_name, data_type FROM duckdb_columns()
        WHERE database_name = current_database() AND schema_name = current_schema() AND table_name = $table
    """, {"table": VOCABULARY_TABLE}).fetchall()}
    retype: dict[str, list[str]] = {}
    for column, values in vocabulary().items():
        data_type = stored.get(column)
        if data_type is None:
            continue
        if data_type.startswith("ENUM("):
            have = enum_values(data_type)
            if set(values) <= set(have):
                continue
        else:
            have = [value for (value,) in connection.execute(
                f"SELECT DISTINCT {column} FROM {VOCABULARY_TABLE} WHERE {column} IS NOT NULL").fetchall()]
        retype[column] = sorted(set(have) | set(values))
    if not retype:
        return []
    connection.execute("BEGIN TRANSACTION")
    try:
        for column, values in retype.items():
            connection.execute(f"ALTER TABLE {VOCABULARY_TABLE} ALTER COLUMN {column} TYPE {enum_type(values)}")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return list(retype)


def enum_type(values: list[str]) -> str:
    return "ENUM(" + ", ".join("'" + value.replace("'", "''") + "'" for value in values) + ")"


def enum_values(data_type: str) -> list[str]:
    """The values of an ENUM as ``duckdb_columns()`` spells its type: ``ENUM('a', 'b''c')``."""
    return [value.replace("''", "'") for value in re.findall(r"'((?:[^']|'')*)'", data_type)]


def _seed_emission_factors(connection: duckdb.DuckDBPyConnection) -> None:
    from energy_orchestration.emission_factors import FACTORS

    known = connection.execute("SELECT count(*) FROM emission_factors").fetchall()[0][0]
    if known >= len(FACTORS):
        return
    # an anti-join, not INSERT OR IGNORE: the same on both backends (DuckLake has no keys)
    rows = ", ".join("(?, ?, ?, ?, ?)" for _ in FACTORS)
    connection.execute(f"""
        INSERT INTO emission_factors
        SELECT f.* FROM (VALUES {rows}) AS f(version, zone, mode, g_co2eq_per_kwh, source)
        WHERE NOT EXISTS (SELECT 1 FROM emission_factors e
                          WHERE e.version = f.version AND e.zone = f.zone AND e.mode = f.mode)
    """, [v for f in FACTORS for v in (f.version, f.zone, f.mode, f.g_co2eq_per_kwh, f.source)])
