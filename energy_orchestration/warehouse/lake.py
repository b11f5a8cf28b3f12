"""The DuckLake backend: the same tables and SQL, the catalog in PostgreSQL, the data in Parquet.

Why it exists: the single DuckDB file (:class:`~energy_orchestration.warehouse.Warehouse`) can
only be shared by processes on one host, through our own file lock. DuckLake keeps the catalog
in a real database and the data as Parquet files in a folder or on S3, so many processes on many
hosts read and write with snapshot isolation and no lock of ours: readers never wait for a
writer, and two writers that change the same rows get a transaction conflict, which
:func:`retry_on_conflict` retries.

Opening DuckLake costs ~1.5 s (loading the extensions and attaching the catalog), far too much
per API request, so each process keeps one DuckDB instance per (catalog, read-only) and every
``connect()`` is a fresh cursor on it: a new transaction, hence the catalog's newest snapshot.
The sandboxed connection of ``energy query`` is the exception (see :meth:`connect`).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import duckdb

from energy_orchestration.warehouse.connection import LANDING_CLAIM, Warehouse, WarehouseConflict, WarehouseMissing
from energy_orchestration.warehouse.schema import MIGRATIONS, migrate

log = logging.getLogger(__name__)

T = TypeVar("T")

CATALOG_ALIAS = "lake"
DUCKDB_VERSION = "v1.5.5"
EXTENSIONS: tuple[tuple[str, str], ...] = (
    ("duckdb_extension_postgres_scanner", "postgres_scanner"),
    ("duckdb_extension_ducklake", "ducklake"),
    ("duckdb_extension_httpfs", "httpfs"),
)
"""(PyPI package, extension) pairs, loaded by path from the installed wheels: no network."""


def redact(text: str, *secrets: str) -> str:
    """``text`` with every ``password=…`` value and the given secret strings replaced by ``***``:
    catalog URLs and DuckDB's error messages (which may quote the ATTACH string) pass through
    here before they reach a log, an exception or a repr."""
    text = re.sub(r"(password\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s']+)", r"\1***", text, flags=re.IGNORECASE)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def split_password(url: str) -> tuple[str, str]:
    """``url`` without its ``password=…`` part, and that password ('' when there is none)."""
    found = re.search(r"\s*\bpassword\s*=\s*('[^']*'|[^\s']+)", url, flags=re.IGNORECASE)
    if found is None:
        return url, ""
    return (url[:found.start()] + url[found.end():]).strip(), found.group(1).strip("'")


def extension_path(package: str, name: str) -> Path:
    """The ``.duckdb_extension`` file shipped in a PyPI package, with a clear error if missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the Python package {package} is not installed (`make install`); "
                           "the DuckLake backend loads its DuckDB extension from it")
    path = Path(spec.origin).parent / "extensions" / DUCKDB_VERSION / f"{name}.duckdb_extension"
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: {package} does not match duckdb {DUCKDB_VERSION}")
    return path


@dataclass(frozen=True)
class S3Options:
    """How to reach an ``s3://`` data path (an S3 secret in DuckDB's httpfs)."""

    endpoint: str = ""
    region: str = "us-east-1"
    key_id: str = ""
    secret: str = field(default="", repr=False)
    url_style: str = "vhost"
    use_ssl: bool = True


def is_conflict(exc: BaseException) -> bool:
    """Whether ``exc`` is DuckLake refusing a commit because another writer changed the same
    data (or the catalog) first: retrying the whole transaction on a new snapshot fixes it."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.TransactionException) and "conflict" in text


def retry_on_conflict(action: Callable[[], T], *, retries: int, what: str, backoff_seconds: float = 0.05,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``action`` (one whole transaction), again after a transaction conflict, at most
    ``retries`` more times with jittered exponential backoff; each retry is logged with the
    reason, and the last conflict is raised as :class:`WarehouseConflict`. Any other error is
    raised at once: only a conflict means "the same work on a newer snapshot may succeed"."""
    attempt = 0
    while True:
        try:
            return action()
        except duckdb.Error as exc:
            if not is_conflict(exc):
                raise
            if attempt >= retries:
                raise WarehouseConflict(f"{what}: still conflicting with other writers after {retries} retries "
                                        f"({' '.join(str(exc).split())})") from exc
            delay = backoff_seconds * (2 ** attempt) * (0.5 + random.random())
            attempt += 1
            log.warning("%s lost a transaction conflict (%s); retry %d of %d in %.2fs", what,
                        " ".join(str(exc).split())[:300], attempt, retries, delay)
            sleep(delay)


def claim_table(claim: str) -> str:
    """The one-row table behind a claim. DuckLake-only machinery, not warehouse data (hence not in
    MIGRATIONS). One table per claim because DuckLake detects conflicts per table: claims sharing
    a table would all conflict with each other."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", claim):
        raise ValueError(f"a claim is a lower-case identifier, not {claim!r}")
    return f"lake_claim_{claim}"


SCHEMA_CLAIM = "schema"

_instances: dict[tuple[object, ...], duckdb.DuckDBPyConnection] = {}
_instances_lock = threading.Lock()
_schemas_complete: set[tuple[object, ...]] = set()
"""(pid, catalog, data path) whose schema a reader of this process has seen complete."""


@dataclass(frozen=True, repr=False)
class DuckLakeWarehouse(Warehouse):
    """DuckLake with the catalog at ``url`` (``ducklake:postgres:…``) and Parquet at ``data_path``.

    ``path`` is only a local anchor for the landing consumer's health file (it sits next to the
    file backend's warehouse too); ``lock_timeout_seconds`` is unused: there is no lock, and so is
    ``writer_threads``: the process's connections share one DuckDB instance, whose thread count
    would change for every reader too.
    """

    url: str = ""
    data_path: str = ""
    catalog_password: str = field(default="", repr=False)
    s3: S3Options | None = None
    conflict_retries: int = 5

    def __repr__(self) -> str:
        return f"DuckLakeWarehouse({self.location!r})"

    @property
    def location(self) -> str:
        return f"{redact(self.url)} (data {self.data_path})"

    def _secrets(self) -> tuple[str, ...]:
        return (self.catalog_password, self.s3.secret if self.s3 else "")

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """A new DuckDB instance with the extensions loaded, S3 configured and the catalog attached."""
        database = duckdb.connect(":memory:")
        try:
            for package, name in EXTENSIONS:
                if name == "httpfs" and not self.data_path.startswith("s3://"):
                    continue
                database.execute(f"LOAD '{extension_path(package, name)}'")
            if self.s3 is not None and self.data_path.startswith("s3://"):
                s3 = self.s3
                options = [f"REGION {_literal(s3.region)}", f"URL_STYLE {_literal(s3.url_style)}",
                           f"USE_SSL {'true' if s3.use_ssl else 'false'}"]
                if s3.endpoint:
                    options.append(f"ENDPOINT {_literal(s3.endpoint)}")
                if s3.key_id:
                    options += [f"KEY_ID {_literal(s3.key_id)}", f"SECRET {_literal(s3.secret)}"]
                database.execute(f"CREATE SECRET lake_s3 (TYPE s3, {', '.join(options)})")
            # The password goes into a DuckDB secret (shown redacted), never into the ATTACH string:
            # DuckDB records attached paths in settings any query can read (allowed_paths).
            catalog, password = split_password(self.url)
            options = [f"DATA_PATH {_literal(self.data_path)}"] + (["READ_ONLY"] if read_only else [])
            if self.catalog_password or password:
                database.execute(f"CREATE SECRET lake_catalog (TYPE postgres, "
                                 f"PASSWORD {_literal(self.catalog_password or password)})")
                options.append("META_SECRET 'lake_catalog'")
            database.execute(f"ATTACH {_literal(catalog)} AS {CATALOG_ALIAS} ({', '.join(options)})")
            database.execute(f"USE {CATALOG_ALIAS}")
            database.execute("SET TimeZone = 'UTC'")
        except duckdb.Error as exc:
            database.close()
            if read_only and "does not exist" in str(exc) and "creating a new DuckLake" in str(exc):
                raise WarehouseMissing(self.path, f"the DuckLake catalog {self.location} holds no warehouse yet "
                                                  "(the landing consumer or `energy demo` creates it)") from None
            raise type(exc)(f"cannot open the DuckLake warehouse {self.location}: "
                            f"{redact(str(exc), *self._secrets())}") from None
        return database

    def _open_racing(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """:meth:`_open`, again when another process was creating the same new catalog at that
        moment (DuckLake's own catalog tables then collide in PostgreSQL); a few tries at most."""
        for attempt in range(1, 6):
            try:
                return self._open(read_only=read_only)
            except duckdb.Error as exc:
                text = str(exc)
                racing = "Failed to initialize DuckLake" in text and ("already exists" in text
                                                                      or "duplicate key" in text)
                if not racing or attempt == 5:
                    raise
                log.warning("another process is creating the DuckLake catalog %s; opening it again (%d)",
                            self.location, attempt)
                time.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    def _shared(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        """This process's instance for the catalog (created, and for writers migrated, once)."""
        key = (os.getpid(), self.url, self.data_path, self.s3, read_only)
        with _instances_lock:
            database = _instances.get(key)
            if database is None:
                if not self.data_path.startswith("s3://") and not read_only:
                    Path(self.data_path).mkdir(parents=True, exist_ok=True)
                database = self._open_racing(read_only=read_only)
                try:
                    if read_only:
                        self._require_schema(database)
                    else:
                        retry_on_conflict(lambda: self._prepare(database), retries=self.conflict_retries,
                                          what="migrating the DuckLake catalog")
                except BaseException:
                    database.close()
                    raise
                _instances[key] = database
            return database.cursor()

    def _prepare(self, database: duckdb.DuckDBPyConnection) -> None:
        """Claims first (idempotent), then the schema under the ``schema`` claim: processes that
        start together on a new catalog conflict and retry instead of migrating twice."""
        self._create_claim(database, SCHEMA_CLAIM)
        self._create_claim(database, LANDING_CLAIM)
        migrate(database, constraints=False, enums=False,
                guard=f"UPDATE {claim_table(SCHEMA_CLAIM)} SET turns = turns + 1")

    @staticmethod
    def _create_claim(connection: duckdb.DuckDBPyConnection, claim: str) -> None:
        table = claim_table(claim)
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} (turns BIGINT NOT NULL)")
        connection.execute(f"INSERT INTO {table} SELECT 0 WHERE NOT EXISTS (FROM {table})")

    def _require_schema(self, database: duckdb.DuckDBPyConnection) -> None:
        """Readers need the whole schema: a catalog being created holds the first migrations'
        tables before the last ones (each migration is its own transaction, and readers take no
        lock on DuckLake), and a query would then fail on a missing table instead of saying
        "not ready yet". Once complete it stays complete, so the check is made until then only."""
        key = (os.getpid(), self.url, self.data_path)
        if key in _schemas_complete:
            return
        found = database.execute("SELECT count(*) FROM duckdb_tables() WHERE database_name = $db "
                                 "AND table_name = 'schema_version'", {"db": CATALOG_ALIAS}).fetchall()[0][0]
        if not found:
            raise WarehouseMissing(self.path, f"the DuckLake catalog {self.location} holds no warehouse yet "
                                              "(the landing consumer or `energy demo` creates it)")
        version = database.execute(f"SELECT coalesce(max(version), 0) FROM {CATALOG_ALIAS}.schema_version"
                                   ).fetchall()[0][0]
        if version < len(MIGRATIONS):
            raise WarehouseMissing(self.path, f"the DuckLake catalog {self.location} is still being migrated "
                                              f"(schema version {version} of {len(MIGRATIONS)}); try again shortly")
        _schemas_complete.add(key)

    def _forget(self, read_only: bool) -> None:
        """Drop a broken instance (e.g. the catalog's server restarted), so the next connect reopens."""
        key = (os.getpid(), self.url, self.data_path, self.s3, read_only)
        with _instances_lock:
            database = _instances.pop(key, None)
        if database is not None:
            try:
                database.close()
            except duckdb.Error:
                pass

    @contextmanager
    def connect(self, *, read_only: bool = False, sandboxed: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection (its own transaction scope) for the ``with`` block; no lock is taken.

        Readers attach the catalog READ_ONLY. ``sandboxed`` (for SQL typed by a user) opens a
        private instance, attaches the catalog first and only then turns external access off and
        locks the configuration: DuckLake still reads its own Parquet files, but the user's SQL
        can no longer COPY TO, read local files, ATTACH, LOAD, or switch that back on. It cannot
        share the process's instance because those settings are global to an instance.
        """
        if sandboxed and not read_only:
            raise ValueError("a sandboxed connection is read-only")
        if sandboxed:
            database = self._open(read_only=True)
            try:
                self._require_schema(database)
                if "://" in self.data_path:
                    # DuckLake reads remote Parquet through the same file system the user's SQL
                    # would use: allow the data path, and only it (COPY TO there could add stray
                    # objects under the prefix, never change the catalog: see docs/architecture.md)
                    database.execute(f"SET allowed_directories = [{_literal(self.data_path)}]")
                database.execute("SET enable_external_access = false")
                database.execute("SET lock_configuration = true")
                yield database
            finally:
                database.close()
            return
        cursor = self._shared(read_only=read_only)
        try:
            if read_only:
                self._require_schema(cursor)
            cursor.execute(f"USE {CATALOG_ALIAS}")
            cursor.execute("SET TimeZone = 'UTC'")
            yield cursor
        except (duckdb.IOException, duckdb.ConnectionException, duckdb.FatalException):
            self._forget(read_only)
            raise
        finally:
            try:
                cursor.close()
            except duckdb.Error:
                pass

    def write(self, action: Callable[[duckdb.DuckDBPyConnection], T], *, what: str = "a warehouse write",
              claim: str | Sequence[str] | None = None) -> T:
        """``action`` inside one transaction, retried on a DuckLake transaction conflict.

        DuckLake detects conflicts per table, and two transactions that only INSERT into a table
        never conflict. That is not enough for a read-then-write upsert (landing: "insert the keys
        not stored yet"): two writers landing the same keys at once would both insert them. So a
        write naming a ``claim`` (or several: landing claims each Kafka partition of its batch,
        :func:`~energy_orchestration.warehouse.connection.landing_claims`) first bumps the row of
        each claim's table (:func:`claim_table`), in the order given; two writes sharing a claim
        then always conflict, the later commit is retried on the newer snapshot and its upsert
        sees the other's rows. Optimistic: nobody waits, readers are never involved, and writes
        without a shared claim are not serialised against each other (they still conflict where
        DuckLake's own rules say so, e.g. one inserts into a table the other deleted from)."""
        claims = (claim,) if isinstance(claim, str) else tuple(claim or ())
        self._ensure_claims(claims)

        def attempt() -> T:
            with self.transaction() as connection:
                for name in claims:
                    connection.execute(f"UPDATE {claim_table(name)} SET turns = turns + 1")
                return action(connection)

        return retry_on_conflict(attempt, retries=self.conflict_retries, what=what)

    def _ensure_claims(self, claims: Sequence[str]) -> None:
        """Create the claims' tables not used yet by this process, in one transaction (landing's
        and the schema's exist from the start). Two processes creating the same one at once
        conflict; the retry finds it and adds nothing."""
        missing = [c for c in claims if c not in (LANDING_CLAIM, SCHEMA_CLAIM)
                   and (os.getpid(), self.url, c) not in _claims_known]
        if not missing:
            return

        def create() -> None:
            with self.transaction() as connection:
                for name in missing:
                    self._create_claim(connection, name)

        retry_on_conflict(create, retries=self.conflict_retries, what=f"creating the claims {', '.join(missing)}")
        _claims_known.update((os.getpid(), self.url, c) for c in missing)


_claims_known: set[tuple[object, ...]] = set()


def _literal(text: str) -> str:
    """A SQL string literal (ATTACH and CREATE SECRET take no parameters)."""
    return "'" + text.replace("'", "''") + "'"
