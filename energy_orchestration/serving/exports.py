"""CSV and Parquet exports of warehouse reads: one serialisation for the API and the CLI.

DuckDB writes the file itself (``COPY (…) TO … (FORMAT csv|parquet)``) into a temporary file,
which the API then streams to the client in chunks and the CLI moves into place. Why a file and
not a cursor streamed straight to the socket:

- the warehouse lock. A connection holds the warehouse's shared lock for as long as it is open,
  and the landing consumer waits for it (``ENERGY_WAREHOUSE_LOCK_TIMEOUT_SECONDS``, then it fails
  its batch). Streaming from a live cursor would hold the lock for as long as the slowest client
  takes to download; ``COPY`` holds it only for as long as DuckDB needs to write the file
  (measured in ``benchmarks/export_throughput.py``).
- exact headers: the row count, whether the page was cut and the next cursor are known before the
  first byte is sent (``X-Row-Count``, ``X-Truncated``, ``Link``, ``Content-Length``).
- speed and memory: DuckDB's writers are vectorised and stream to disk; Python never holds the
  rows (measured against ``fetchmany`` + the ``csv`` module in the benchmark).

Values are the JSON answer's: times are ISO 8601 UTC with ``Z`` in CSV (``TIMESTAMP WITH TIME
ZONE``, i.e. UTC instants, in Parquet), non-finite numbers are empty/null, columns and their order
are the JSON items'.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import duckdb
import orjson

from energy_orchestration.serving.queries import AGGREGATE_TABLES, Selection, cursor_after, jsonable, require_table
from energy_orchestration.warehouse import Warehouse

FORMATS = ("json", "csv", "parquet")
EXPORT_FORMATS = ("csv", "parquet")
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
"""What each format is answered as (CSV adds ``; charset=utf-8``)."""
ACCEPTED = {"application/json": "json", "text/csv": "csv", "application/vnd.apache.parquet": "parquet",
            "application/x-parquet": "parquet"}
"""Media types a client may ask for in ``Accept`` (``*/*`` and ``application/*`` mean JSON)."""
SUFFIX = {"csv": ".csv", "parquet": ".parquet"}
EXPOSED_HEADERS = ("Content-Disposition", "Link", "X-Row-Count", "X-Truncated")
"""The export headers a browser page on another origin may read (CORS)."""
ISO_UTC = "%Y-%m-%dT%H:%M:%SZ"
CHUNK_BYTES = 1 << 16


def negotiate(accept: str | None) -> str | None:
    """The format an ``Accept`` header asks for, or None when it accepts none of ours (406).

    The highest ``q`` wins; on a tie the first listed; wildcards (``*/*``, ``application/*``)
    mean JSON, the default; ``q=0`` refuses a type. No header means JSON."""
    if not accept or not accept.strip():
        return "json"
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, *parameters = [p.strip() for p in part.split(";")]
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = media.lower()
        found = "json" if media in ("*/*", "application/*") else ACCEPTED.get(media)
        if found and quality > 0 and (best is None or (quality, -position) > (best[0], -best[1])):
            best = (quality, position, found)
    return best[2] if best else None


@dataclass(frozen=True)
class Written:
    rows: int
    bytes: int
    next_cursor: str | None
    """Set exactly when the export was cut at ``limit`` and more rows follow."""


def projection(description: list[tuple[Any, ...]], fmt: str) -> str:
    """Each column as the format writes it: times as ISO ``Z`` text (CSV) or UTC instants
    (Parquet), non-finite floats as NULL (as the JSON's null), everything else unchanged."""
    columns = []
    for name, kind, *_ in description:
        quoted = '"' + str(name).replace('"', '""') + '"'
        kind = str(kind).upper()
        if kind.startswith("TIMESTAMP"):
            value = f"strftime({quoted}, '{ISO_UTC}')" if fmt == "csv" else f"{quoted}::TIMESTAMPTZ"
        elif kind in ("DOUBLE", "FLOAT", "REAL"):
            value = f"CASE WHEN isfinite({quoted}) THEN {quoted} END"
        else:
            value = quoted
        columns.append(f"{value} AS {quoted}")
    return ", ".join(columns)


def copy_options(fmt: str) -> str:
    if fmt == "csv":
        return "FORMAT csv, HEADER true"
    if fmt == "parquet":
        return "FORMAT parquet, COMPRESSION zstd"
    raise ValueError(f"unknown export format {fmt!r}; expected one of {', '.join(EXPORT_FORMATS)}")


def write(db: duckdb.DuckDBPyConnection, selection: Selection, fmt: str, path: Path,
          limit: int | None = None) -> Written:
    """Write the selection's rows (at most ``limit``; all when None) to ``path`` as CSV or Parquet.

    With a limit, the row after the last one written is looked up first (same connection, so the
    same snapshot): ``next_cursor`` says exactly whether the export was cut."""
    options = copy_options(fmt)
    if selection.table in {table for table, _ in AGGREGATE_TABLES.values()}:
        require_table(db, selection.table)
    description = db.execute(f"{selection.sql()} LIMIT 0", selection.params).description
    next_cursor = None
    if limit is not None:
        keys = ", ".join(selection.order)
        edge = db.execute(f"{selection.sql(keys)} LIMIT 2 OFFSET ?", selection.params + [limit - 1]).fetchall()
        if len(edge) == 2:
            next_cursor = cursor_after(selection, {k: jsonable(v) for k, v in zip(selection.order, edge[0],
                                                                                 strict=True)})
    quoted_path = str(path).replace("'", "''")
    sql = f"SELECT {projection(description, fmt)} FROM ({selection.sql()}{' LIMIT ?' if limit else ''})"
    params = selection.params + ([limit] if limit else [])
    [(rows,)] = db.execute(f"COPY ({sql}) TO '{quoted_path}' ({options})", params).fetchall()
    return Written(int(rows), path.stat().st_size, next_cursor)


def spool(warehouse: Warehouse, selection: Selection, fmt: str, limit: int | None = None) -> tuple[IO[bytes], Written]:
    """The export in an open, already unlinked temporary file (gone when closed, whatever
    happens), written under the warehouse's read lock, which is released before returning."""
    descriptor, name = tempfile.mkstemp(prefix="energy-export-", suffix=SUFFIX[fmt])
    os.close(descriptor)
    path = Path(name)
    try:
        with warehouse.connect(read_only=True) as db:
            written = write(db, selection, fmt, path, limit)
        handle = path.open("rb")
    finally:
        path.unlink(missing_ok=True)
    return handle, written


def chunks(handle: IO[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The file's bytes in chunks, closing it at the end (or when the client goes away)."""
    try:
        while data := handle.read(size):
            yield data
    finally:
        handle.close()


def filename(*parts: str | None, fmt: str) -> str:
    """``FR-84_daily_2025-01-01_2025-12-31.csv``: zone, what, range (``start``/``end`` when open)."""
    safe = ["".join(c if c.isalnum() or c in "-." else "-" for c in part) for part in parts if part]
    return "_".join(safe) + SUFFIX[fmt]


# --- the command line (energy export, energy query --format) --------------------------------

def to_output(produce: Callable[[Path], Written], output: str, fmt: str, stdout: IO[bytes],
              progress: Callable[[int], None] | None = None) -> Written:
    """Run ``produce`` on a temporary file, then move it to ``output`` (atomically: a reader
    never sees half a file, a failed export leaves no file) or, for ``-``, copy it to stdout.
    ``progress`` is called with the bytes written so far, twice a second, while DuckDB writes."""
    if progress is not None:
        produce = _watched(produce, progress)
    if output == "-":
        descriptor, name = tempfile.mkstemp(prefix="energy-export-", suffix=SUFFIX.get(fmt, ".json"))
        os.close(descriptor)
        path = Path(name)
        try:
            written = produce(path)
            with path.open("rb") as handle:
                shutil.copyfileobj(handle, stdout, CHUNK_BYTES)
            stdout.flush()
        finally:
            path.unlink(missing_ok=True)
        return written
    target = Path(output)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        written = produce(partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return written


def _watched(produce: Callable[[Path], Written], progress: Callable[[int], None],
             every: float = 0.5) -> Callable[[Path], Written]:
    """``produce`` with a thread reporting the size of the file it is writing until it returns."""

    def run(path: Path) -> Written:
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(every):
                with contextlib.suppress(FileNotFoundError):
                    progress(path.stat().st_size)

        watcher = threading.Thread(target=watch, name="export-progress", daemon=True)
        watcher.start()
        try:
            return produce(path)
        finally:
            stop.set()
            watcher.join()

    return run


def write_relation(relation: duckdb.DuckDBPyRelation, fmt: str, path: Path) -> Written:
    """A user query's result (``energy query --format``), with the API's value rules.

    The query runs on the sandboxed connection, which may write no file, so CSV and Parquet are
    written from an in-memory DuckDB the rows are copied into chunk by chunk (the same ``write``
    as the API's exports). JSON is an array of row objects, written as rows are fetched."""
    if fmt == "json":
        return _write_json(relation, path)
    columns = ", ".join(f'"{str(name).replace(chr(34), chr(34) * 2)}" {kind}'
                        for name, kind in zip(relation.columns, relation.types, strict=True))
    with duckdb.connect() as memory:
        memory.execute("SET TimeZone = 'UTC'")
        memory.execute(f"CREATE TABLE result ({columns})")
        while len(chunk := relation.fetch_df_chunk(16)):
            memory.register("chunk", chunk)
            memory.execute("INSERT INTO result SELECT * FROM chunk")
            memory.unregister("chunk")
        return write(memory, Selection("result", "true", [], (), "result"), fmt, path)


def _write_json(relation: duckdb.DuckDBPyRelation, path: Path) -> Written:
    names = relation.columns
    rows = 0
    with path.open("wb") as out:
        out.write(b"[")
        while batch := relation.fetchmany(10_000):
            for row in batch:
                out.write(b"\n" if rows == 0 else b",\n")
                out.write(orjson.dumps({n: jsonable(v) for n, v in zip(names, row, strict=True)}, default=str))
                rows += 1
        out.write(b"\n]\n")
    return Written(rows, path.stat().st_size, None)
