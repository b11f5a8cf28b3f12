"""The only way any process opens the DuckDB warehouse.

DuckDB allows one read-write process per file, and read-only opens fail while a writer holds
it. So every process (landing consumer, Dagster runs, the HTTP API) opens a *short-lived*
connection under an inter-process ``flock``: exclusive for writers, shared for readers (many
read-only opens can coexist). The wait is bounded and ends in a clear error, and nobody keeps
the file open while idle, so the others get their turn.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import duckdb

from energy_orchestration import settings
from energy_orchestration.warehouse.schema import migrate

log = logging.getLogger(__name__)

T = TypeVar("T")

LANDING_CLAIM = "landing"
"""The claim (see :meth:`Warehouse.write`) of landed data that came through no Kafka partition
(the bad-page quarantine of ``ingest.py``); the consumer claims per partition
(:func:`landing_claims`)."""


def landing_claims(partitions: Iterable[tuple[str, int]]) -> tuple[str, ...]:
    """The claims of a landing write carrying messages of these Kafka ``(topic, partition)`` pairs:
    one per partition (``landing_<8 hex of sha1(topic)>_<partition>``), sorted by topic and
    partition; :data:`LANDING_CLAIM` when there are none.

    Why per partition and not one for all landing: a record's message key is a function of its
    natural key (``message_zone``), so one key always comes through the same partition (topics
    are created with a fixed partition count; ``ensure_topics`` never adds partitions). Two
    batches can then only carry the same keys when they share a partition (a rebalance hands it
    over while the old owner still writes), and only those must conflict; consumers on disjoint
    partitions commit side by side instead of redoing each other's batches."""
    found = sorted({(str(topic), int(partition)) for topic, partition in partitions})
    return tuple(f"landing_{hashlib.sha1(topic.encode()).hexdigest()[:8]}_{partition}"
                 for topic, partition in found) or (LANDING_CLAIM,)


class WarehouseBusy(TimeoutError):
    """Another process held the warehouse longer than the configured wait."""


class WarehouseConflict(RuntimeError):
    """A DuckLake write kept losing transaction conflicts to other writers (retried a bounded
    number of times first); nothing of it landed, so the caller may retry the whole write later."""


class WarehouseMissing(FileNotFoundError):
    """A reader asked for a warehouse file that does not exist: reading never creates one."""

    def __init__(self, path: Path, message: str | None = None) -> None:
        super().__init__(message or f"no warehouse at {path} (check ENERGY_WAREHOUSE_PATH / ENERGY_STATE_DIR; "
                                    "the landing consumer or `energy demo` creates it)")
        self.path = path


@dataclass(frozen=True)
class Warehouse:
    path: Path
    lock_timeout_seconds: float = float(settings.default("ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS"))
    writer_threads: int | None = None
    """DuckDB threads of a write connection (None: DuckDB's default, one per core). The landing
    consumer writes with one: its main thread prepares the next batch meanwhile, and DuckDB's
    second thread made the insert no faster while it used that core (benchmarks/README.md,
    issue 11, eighth pass). File backend only: a writer holds the file's exclusive lock, so no
    other connection of the process shares the DuckDB instance the setting applies to."""

    @property
    def location(self) -> str:
        """Where the data is, for messages and status lines (never a secret)."""
        return str(self.path)

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def connect(self, *, read_only: bool = False, sandboxed: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection held only for the ``with`` block.

        Writers create the file if needed and get a migrated schema. Readers open an existing
        file only (:class:`WarehouseMissing` otherwise): a mistyped path must be an error, not a
        new empty warehouse that reports "nothing landed". ``sandboxed`` (read-only only) also
        turns off DuckDB's access to anything outside the file (COPY TO, ATTACH, INSTALL,
        read_csv of local files), for SQL typed by a user.
        """
        if sandboxed and not read_only:
            raise ValueError("a sandboxed connection is read-only")
        if read_only and not self.path.is_file():
            raise WarehouseMissing(self.path)
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        config = {"enable_external_access": False} if sandboxed else {}
        with _file_lock(self.lock_path, exclusive=not read_only, timeout=self.lock_timeout_seconds):
            # UTC sessions: every timestamp column is naive UTC, whatever the machine's time zone.
            connection = duckdb.connect(str(self.path), read_only=read_only, config=config)
            try:
                connection.execute("SET TimeZone = 'UTC'")
                if not read_only:
                    if self.writer_threads:
                        connection.execute(f"SET threads = {int(self.writer_threads)}")
                    migrate(connection)
                yield connection
            finally:
                connection.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write connection inside BEGIN/COMMIT; any exception rolls everything back."""
        with self.connect() as connection:
            connection.execute("BEGIN TRANSACTION")
            try:
                yield connection
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")

    def write(self, action: Callable[[duckdb.DuckDBPyConnection], T], *, what: str = "a warehouse write",
              claim: str | Sequence[str] | None = None) -> T:
        """``action`` inside one :meth:`transaction`. The file backend's exclusive lock means no
        other writer interleaves, so there is nothing to retry and ``claim`` is moot (DuckLake's
        override retries transaction conflicts and makes writes with the same claim conflict)."""
        with self.transaction() as connection:
            return action(connection)


@contextmanager
def _file_lock(path: Path, *, exclusive: bool, timeout: float) -> Iterator[None]:
    """A readers-writer lock across processes, fair to writers.

    ``flock`` alone lets overlapping readers hold a shared lock forever and starve the writer
    (the landing consumer). So everyone first passes a turnstile (``<lock>.gate``, exclusive,
    held only while waiting for the real lock): a waiting writer holds the turnstile, new
    readers queue behind it, and the readers already in finish and let the writer in.

    Kept hand-written on purpose: the inter-process locks on PyPI (``fasteners``'
    ``InterProcessReaderWriterLock``, ``portalocker``, ``filelock``) are plain shared/exclusive
    file locks with no writer preference, i.e. exactly the bare ``flock`` whose measured reader
    starvation of the landing consumer this turnstile fixed.
    """
    deadline = time.monotonic() + timeout
    gate = os.open(path.with_name(path.name + ".gate"), os.O_RDWR | os.O_CREAT, 0o644)
    main = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            _acquire(gate, fcntl.LOCK_EX, deadline, path, timeout)
            _acquire(main, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, deadline, path, timeout)
        finally:
            os.close(gate)  # leaving the turnstile as soon as we hold (or gave up on) the lock
        yield
    finally:
        os.close(main)  # closing the descriptor releases the flock


def _acquire(descriptor: int, mode: int, deadline: float, path: Path, timeout: float) -> None:
    delay = 0.002
    while True:
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"warehouse lock {path} still held by another process after {timeout:g}s "
                    "(raise ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS if long backfills are expected)") from None
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
