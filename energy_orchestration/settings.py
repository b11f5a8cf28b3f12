"""Every environment variable the platform reads, with its default, in one table.

The README's configuration table is generated from :data:`SETTINGS` (a test keeps the two
in sync), so a new knob is added here and nowhere else. Each setting carries the check of its
values; :func:`problems` runs them all once at start-up (``energy`` does, before anything else).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path


def _integer(low: int | None = None, high: int | None = None) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = int(value)
        except ValueError:
            number = None
        if number is None or (low is not None and number < low) or (high is not None and number > high):
            return _range_text("an integer", low, high)
        return None
    return check


def _number(low: float | None = None, high: float | None = None, *, above: float | None = None) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if (number != number or number in (float("inf"), float("-inf")) or (low is not None and number < low)
                or (high is not None and number > high) or (above is not None and number <= above)):
            return _range_text("a number", low, high, above)
        return None
    return check


def _range_text(kind: str, low: float | None, high: float | None, above: float | None = None) -> str:
    if above is not None:
        return f"{kind} > {above:g}"
    if low is not None and high is not None:
        return f"{kind} from {low:g} to {high:g}"
    return f"{kind} >= {low:g}" if low is not None else kind


def _choice(*allowed: str) -> Callable[[str], str | None]:
    return lambda value: None if value in allowed else "one of " + ", ".join(f"`{a}`" for a in allowed)


def _iso_date(value: str) -> str | None:
    try:
        date.fromisoformat(value)
    except ValueError:
        return "a date YYYY-MM-DD"
    return None


def _regex(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as exc:
        return f"a valid regular expression ({exc})"
    return None


def _instant_or_empty(value: str) -> str | None:
    if value == "":
        return None
    try:
        parse_instant(value)
    except ValueError:
        return "empty, or an ISO 8601 instant with an offset, e.g. `2025-03-30T01:30:00Z`"
    return None


def _dataset_names(value: str) -> str | None:
    from energy_orchestration.sources import DATASETS  # lazily: the registry imports the clients

    unknown = [n for n in split_list(value) if n not in DATASETS]
    return f"comma-separated dataset names from {', '.join(sorted(DATASETS))}" if unknown else None


def _ducklake_url(value: str) -> str | None:
    return None if value == "" or value.startswith("ducklake:") else "empty, or a `ducklake:…` catalog"


_PORT = _integer(1, 65535)


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    description: str
    secret: bool = False
    check: Callable[[str], str | None] | None = None
    """Returns what is allowed when a value is not (``None`` = valid); ``None`` = any text."""


SETTINGS: tuple[Setting, ...] = (
    Setting("ENERGY_STATE_DIR", ".state", "Folder holding all local state (warehouse, Dagster home, logs)."),
    Setting("ENERGY_WAREHOUSE_PATH", "", "DuckDB file; empty means `$ENERGY_STATE_DIR/warehouse.duckdb`."),
    Setting("ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS", "60", "Longest wait for the warehouse's inter-process lock before a clear error.", check=_number(0)),
    Setting("ENERGY_WAREHOUSE_URL", "", "Warehouse backend: empty = the single DuckDB file at `ENERGY_WAREHOUSE_PATH`; `ducklake:postgres:host=… port=… dbname=… user=…` = DuckLake with that PostgreSQL catalog (many processes and hosts, no file lock); `password=…` in it is never logged.", check=_ducklake_url),
    Setting("ENERGY_WAREHOUSE_CATALOG_PASSWORD", "", "Password of the DuckLake catalog's PostgreSQL role, if not in `ENERGY_WAREHOUSE_URL`; never logged.", secret=True),
    Setting("ENERGY_WAREHOUSE_DATA_PATH", "", "Where DuckLake writes its Parquet files: a folder or `s3://bucket/prefix/`; empty means `$ENERGY_STATE_DIR/lake/`. Fixed when the catalog is created."),
    Setting("ENERGY_WAREHOUSE_S3_ENDPOINT", "", "S3-compatible endpoint (`host:port`) for an `s3://` data path; empty = AWS."),
    Setting("ENERGY_WAREHOUSE_S3_REGION", "us-east-1", "Region of the `s3://` data path's bucket."),
    Setting("ENERGY_WAREHOUSE_S3_ACCESS_KEY_ID", "", "Access key id for the `s3://` data path."),
    Setting("ENERGY_WAREHOUSE_S3_SECRET_ACCESS_KEY", "", "Secret access key for the `s3://` data path; never logged.", secret=True),
    Setting("ENERGY_WAREHOUSE_S3_URL_STYLE", "vhost", "`vhost` (AWS) or `path` (most S3-compatible servers).", check=_choice("vhost", "path")),
    Setting("ENERGY_WAREHOUSE_S3_USE_SSL", "1", "`1` = HTTPS to the S3 endpoint, `0` = plain HTTP (a local server).", check=_choice("0", "1")),
    Setting("ENERGY_WAREHOUSE_CONFLICT_RETRIES", "5", "DuckLake only: how often a write that lost a transaction conflict to another writer is retried (with backoff) before it fails.", check=_integer(0)),
    Setting("KAFKA_BOOTSTRAP_SERVERS", "", "Kafka cluster to use; empty means start the embedded broker."),
    Setting("KAFKA_SECURITY_PROTOCOL", "", "Passed to librdkafka `security.protocol` (e.g. `SASL_SSL`)."),
    Setting("KAFKA_SASL_MECHANISM", "", "Passed to librdkafka `sasl.mechanism` (e.g. `SCRAM-SHA-512`)."),
    Setting("KAFKA_SASL_USERNAME", "", "Passed to librdkafka `sasl.username`."),
    Setting("KAFKA_SASL_PASSWORD", "", "Passed to librdkafka `sasl.password`; never logged.", secret=True),
    Setting("KAFKA_SSL_CA_LOCATION", "", "Passed to librdkafka `ssl.ca.location`."),
    Setting("ENERGY_KAFKA_EMBEDDED", "", "Set to 1 by `energy demo` for its services when it started the embedded broker: turns on that broker's workarounds (`streaming/config.py`). Never set it for a real cluster.", check=_choice("", "0", "1")),
    Setting("ENERGY_BROKER_PORT", "19092", "Port of the embedded broker (demo).", check=_PORT),
    Setting("ENERGY_TOPIC_PREFIX", "energy", "Prefix of every topic name (`<prefix>.raw.<dataset>`, `<prefix>.dlq`)."),
    Setting("ENERGY_TOPIC_PARTITIONS", "4", "Partitions of topics the platform creates.", check=_integer(1)),
    Setting("ENERGY_EDS_BASE_URL", "http://127.0.0.1:8081", "Energi Data Service base URL; the real one is `https://api.energidataservice.dk`."),
    Setting("ENERGY_ODRE_BASE_URL", "http://127.0.0.1:8081", "ODRÉ (éCO2mix) base URL; the real one is `https://odre.opendatasoft.com`."),
    Setting("ENERGY_ODRE_API_KEY", "", "Optional ODRÉ API key (sent as `Authorization: Apikey …`); never logged.", secret=True),
    Setting("ENERGY_ODRE_DAILY_REQUEST_BUDGET", "1000", "Most ODRÉ requests the live sensor spends per UTC day (the public quota is ~50,000 a month).", check=_integer(0)),
    Setting("ENERGY_LIVE_DATASETS", "PowerSystemRightNow,CO2Emis,ElectricityProdex5MinRealtime,eco2mix-national-tr,eco2mix-regional-tr", "Datasets the minute sensor keeps fetching (comma-separated).", check=_dataset_names),
    Setting("ENERGY_STANDIN_PORT", "8081", "Port of the local API stand-in (demo).", check=_PORT),
    Setting("ENERGY_STANDIN_RATE_LIMIT_PER_MINUTE", "1", "Stand-in requests allowed per dataset per minute (0 = unlimited), like the real service.", check=_number(0)),
    Setting("ENERGY_STANDIN_BAD_RECORD_RATE", "0.02", "Share of stand-in rows given one deliberately invalid value, to exercise validation and quarantine (0 = none).", check=_number(0, 1)),
    Setting("ENERGY_STANDIN_CORRECTION_RATE", "0.02", "Share of stand-in Energi Data Service rows corrected 2 minutes after publication, so revisions land and are kept in observation_history (0 = none).", check=_number(0, 1)),
    Setting("ENERGY_STANDIN_CONSOLIDATION_HOURS", "3", "Hours after which the stand-in's éCO2mix real-time rows turn into consolidated ones with revised values (0 = after 30 days, as the real service).", check=_number(0)),
    Setting("ENERGY_FETCH_OVERLAP_MINUTES", "5", "Each fetch re-reads this many minutes before the last acknowledged window (late rows).", check=_integer(0)),
    Setting("ENERGY_FETCH_INITIAL_LOOKBACK_MINUTES", "15", "How far back the very first fetch reaches.", check=_integer(1)),
    Setting("ENERGY_FETCH_MAX_WINDOW_MINUTES", "1440", "Longest window one fetch asks for; a longer outage is caught up over several ticks.", check=_integer(1)),
    Setting("ENERGY_FETCH_TICK_BUDGET_SECONDS", "30", "Longest one live fetch tick may spend on providers and the broker (well below Dagster's 60 s sensor timeout); what it does not reach, the next tick covers.", check=_number(above=0)),
    Setting("ENERGY_CONSUMER_GROUP", "energy-landing", "Consumer group of the DuckDB landing consumer."),
    Setting("ENERGY_CONSUMER_BATCH_MAX_MESSAGES", "60000", "Largest micro-batch the landing consumer writes in one DuckDB transaction. Only a backlog (a backfill, a restart) fills one; live data comes in small batches either way. Larger batches spread each write's fixed costs (open, commit, checkpoint at close) over more records: a year of all five datasets went from stand-in to aggregates in 82.8 s at 60000 against 99.7 s at 20000 (medians of 3 runs, benchmarks/README.md), for about 500 MB more consumer memory while a backlog lasts and a few seconds' wait for readers while one batch lands.", check=_integer(1)),
    Setting("ENERGY_CONSUMER_BATCH_MAX_SECONDS", "1.0", "Longest the consumer waits to fill a micro-batch.", check=_number(above=0)),
    Setting("ENERGY_CONSUMER_FETCH_WAIT_MS", "1000", "How long the broker may hold an empty fetch. The embedded broker answers a held fetch soon after data arrives (at 1000: 0.13 s on average, 0.4 s at most), and its idle CPU grows with the empty fetches it answers (500 costs it 1.3-1.6x what 1000 does, benchmarks/broker_fetch_wait.py).", check=_integer(0)),
    Setting("ENERGY_PARTITIONS_START", "2025-01-01", "First partition of the time-partitioned Dagster assets (UTC date).", check=_iso_date),
    Setting("ENERGY_REVISIT_HOURS", "6", "Each hour, the revisit schedule re-fetches this many trailing hours of every live dataset, so provider revisions (éCO2mix consolidation, corrected minutes) land (0 = off).", check=_integer(0)),
    Setting("ENERGY_GAP_REPAIR_HOURS", "72", "Trailing window the completeness checks and the gap-repair sensor scan for missing intervals.", check=_integer(1)),
    Setting("ENERGY_GAP_REPAIR_MAX_ATTEMPTS", "3", "Re-fetches of one missing window before the gap-repair sensor gives up on it (and says so).", check=_integer(1)),
    Setting("ENERGY_DAGSTER_PORT", "3000", "Port of the Dagster web UI (demo).", check=_PORT),
    Setting("ENERGY_DAGSTER_CODE_PORT", "0", "Port of the demo's Dagster gRPC code server, which the webserver and daemon reach through `workspace.yaml` in the state folder; 0 picks a free loopback port at start.", check=_integer(0, 65535)),
    Setting("ENERGY_RUN_RETENTION_DAYS", "7", "Finished Dagster runs older than this many days are deleted daily with their event logs and compute logs (`run_cleanup_job`).", check=_integer(0)),
    Setting("ENERGY_API_HOST", "127.0.0.1", "Address `energy serve` binds to (HTTP API, WebSocket, dashboard); `0.0.0.0` exposes it."),
    Setting("ENERGY_API_PORT", "8000", "Port of `energy serve`.", check=_PORT),
    Setting("ENERGY_API_AUTH", "auto", "Bearer-token authentication: `auto` (on unless bound to a loopback address), `on` or `off`.", check=_choice("auto", "on", "off")),
    Setting("ENERGY_API_TOKENS", "", "Accepted bearer tokens (comma-separated); required when authentication is on; never logged.", secret=True),
    Setting("ENERGY_API_CORS_ORIGINS", "", "Origins allowed to call the API from a browser (comma-separated, `*` = any); empty = same origin only."),
    Setting("ENERGY_API_FEEDER_FETCH_WAIT_MS", "1000", "How long the broker may hold an empty fetch of the API's live-cache reader: its idle polling rate. 2000 makes live push 3x slower at the median (0.6 s instead of 0.2 s; p99 1.25 s instead of 1.15 s, benchmarks/push_fanout.py) and saves the idle demo stack only 2 % of its CPU (the broker's 7.9 instead of 8.7 CPU-s per 600 s; benchmarks/README.md, issue 11, fourth pass).", check=_integer(0)),
    Setting("ENERGY_API_CONSUMER_GROUP", "energy-api", "Kafka consumer group naming the API's live-cache reader (each API process reads every partition itself; commits nothing)."),
    Setting("ENERGY_API_WS_TOPIC_ALLOW", ".*", "Regex (full match) of the topics whose records the WebSocket pushes (`.*` = all).", check=_regex),
    Setting("ENERGY_API_WS_QUEUE_SIZE", "1000", "Messages buffered per WebSocket client; when full the oldest is dropped (counted and logged).", check=_integer(1)),
    Setting("ENERGY_CLOCK_NOW", "", "Testing/demo knob: pins the platform's clock (stand-in data, sensors, the API's and the dashboard's \"now\") to this ISO 8601 instant, e.g. `2025-03-30T01:30:00Z`; it stands still there. Empty = the system clock.", check=_instant_or_empty),
    Setting("ENERGY_API_STALE_AFTER_SECONDS", "300", "A dataset is reported stale when nothing landed for this long (at least two of its intervals).", check=_number(above=0)),
    Setting("ENERGY_LAKE_SNAPSHOT_RETENTION_HOURS", "24", "DuckLake only: snapshots older than this are expired by the hourly `lake_maintenance_job` (after it compacts small files), and the files only they referenced are deleted; time travel reaches back this far.", check=_integer(0)),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def get(name: str) -> str:
    """The value of a declared setting: the environment's, else the documented default."""
    if name not in _BY_NAME:
        raise KeyError(f"undeclared setting {name!r}: add it to energy_orchestration.settings.SETTINGS")
    return os.environ.get(name, _BY_NAME[name].default)


def default(name: str) -> str:
    """The documented default of a declared setting, whatever the environment says: what a
    Dagster resource field or a constructor falls back to, written here once."""
    if name not in _BY_NAME:
        raise KeyError(f"undeclared setting {name!r}: add it to energy_orchestration.settings.SETTINGS")
    return _BY_NAME[name].default


def problems() -> list[str]:
    """One line per environment variable holding a value its setting does not allow: the
    variable, the bad value and what is allowed. Checked once at start-up, so a typo is a clear
    message instead of a traceback deep inside whichever command first reads it."""
    found = []
    for s in SETTINGS:
        value = os.environ.get(s.name)
        if value is None or s.check is None:
            continue
        allowed = s.check(value)
        if allowed is not None:
            shown = "(hidden)" if s.secret else repr(value)
            found.append(f"{s.name}={shown} is not allowed: expected {allowed}")
    return found


def parse_instant(value: str) -> datetime:
    """An ISO 8601 instant that names its offset (``Z`` or ``+01:00``), as an aware UTC datetime.

    A time without an offset is refused: it would mean a different instant on every machine."""
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    return parsed.astimezone(timezone.utc)


def pinned_now() -> datetime | None:
    """The instant ``ENERGY_CLOCK_NOW`` pins the platform's clock to, ``None`` when unset."""
    value = os.environ.get("ENERGY_CLOCK_NOW", "")
    return _parsed_instant(value) if value else None


@lru_cache(maxsize=8)
def _parsed_instant(value: str) -> datetime:
    try:
        return parse_instant(value)
    except ValueError:
        raise ValueError(f"ENERGY_CLOCK_NOW={value!r} is not allowed: expected "
                         "an ISO 8601 instant with an offset, e.g. `2025-03-30T01:30:00Z`") from None


def get_int(name: str) -> int:
    value = get(name)
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def get_float(name: str) -> float:
    value = get(name)
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def get_list(name: str) -> tuple[str, ...]:
    """A comma-separated setting as its non-empty, stripped items."""
    return split_list(get(name))


def split_list(value: str) -> tuple[str, ...]:
    """``"a, b,,c"`` -> ``("a", "b", "c")``: how every comma-separated setting is read."""
    return tuple(item.strip() for item in value.split(",") if item.strip())


def state_dir() -> Path:
    return Path(get("ENERGY_STATE_DIR")).resolve()


def warehouse_path() -> Path:
    explicit = get("ENERGY_WAREHOUSE_PATH")
    return Path(explicit).resolve() if explicit else state_dir() / "warehouse.duckdb"


def lake_data_path() -> str:
    """Where DuckLake keeps its Parquet files (``ENERGY_WAREHOUSE_DATA_PATH``, else under the state dir)."""
    explicit = get("ENERGY_WAREHOUSE_DATA_PATH")
    if not explicit:
        return str(state_dir() / "lake") + "/"
    if "://" in explicit:
        return explicit if explicit.endswith("/") else explicit + "/"
    return str(Path(explicit).resolve()) + "/"


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f"`{s.default}`" if s.default else "(empty)"
        lines.append(f"| `{s.name}` | {default} | {s.description} |")
    return "\n".join(lines)


def env_example() -> str:
    """The committed `.env.example`: every setting, commented out at its default."""
    lines = ["# Every variable the platform reads, with its default. Copy to .env and edit;",
             "# `energy demo` and the services read the process environment (e.g. `set -a; . ./.env; set +a`).", ""]
    for s in SETTINGS:
        lines.append(f"# {s.description}")
        lines.append(f"# {s.name}=" if s.secret else f"# {s.name}={s.default}")
    return "\n".join(lines) + "\n"
