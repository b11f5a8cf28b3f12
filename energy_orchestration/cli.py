"""The `energy` command. Each subcommand is one process of the platform."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from energy_orchestration import settings

if TYPE_CHECKING:
    from energy_orchestration.serving.exports import Written


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def cmd_demo(args: argparse.Namespace) -> int:
    from energy_orchestration.demo import run_demo

    return run_demo(source=args.source)


def cmd_up(args: argparse.Namespace) -> int:
    from pathlib import Path

    from energy_orchestration.profiles.production import run_production

    return run_production(Path(args.home or settings.state_dir() / "production"), args.code_port, args.port)


def cmd_standin(args: argparse.Namespace) -> int:
    from energy_orchestration.standin import FaultConfig, StandinConfig, serve_forever
    from energy_orchestration.standin.odre import OdreStandinConfig

    serve_forever(StandinConfig(host=args.host, port=args.port, rate_limit_per_minute=args.rate_limit,
                                faults=FaultConfig(bad_record_rate=args.bad_record_rate),
                                correction_rate=args.correction_rate,
                                odre=OdreStandinConfig(consolidation_hours=args.consolidation_hours)))
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    from energy_orchestration.streaming.consumer import LandingConsumer, WriterDied
    from energy_orchestration.warehouse import default_warehouse

    servers = settings.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        print("KAFKA_BOOTSTRAP_SERVERS is not set (`energy demo` sets it for its embedded broker)", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logging.getLogger("energy_orchestration").info("signal %d: finishing the current batch, then exiting", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    consumer = LandingConsumer(servers, default_warehouse(), settings.get("ENERGY_CONSUMER_GROUP"),
                               batch_max_messages=settings.get_int("ENERGY_CONSUMER_BATCH_MAX_MESSAGES"),
                               batch_max_seconds=settings.get_float("ENERGY_CONSUMER_BATCH_MAX_SECONDS"))
    try:
        consumer.run(stop)
    except WriterDied as exc:  # nothing can land any more: exit for a supervisor to restart us, loudly
        logging.getLogger("energy_orchestration").critical("energy consume exits: %s", exc)
        return 1
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from energy_orchestration.serving.config import ServerConfig
    from energy_orchestration.serving.server import serve
    from energy_orchestration.warehouse import default_warehouse

    try:
        config = ServerConfig.from_settings(host=args.host, port=args.port)
    except ValueError as exc:
        print(f"energy serve: {exc}", file=sys.stderr)
        return 2
    servers = settings.get("KAFKA_BOOTSTRAP_SERVERS")
    if not servers:
        logging.getLogger("energy_orchestration").warning(
            "KAFKA_BOOTSTRAP_SERVERS is not set: serving the warehouse only, latest values will not update")
    serve(config, default_warehouse(), servers or None)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from energy_orchestration.warehouse import default_warehouse
    from energy_orchestration.warehouse.status import warehouse_status

    print(warehouse_status(default_warehouse()))  # a missing warehouse is WarehouseMissing (exit 2), see main
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    """Read-only and sandboxed: the SQL sees the warehouse and nothing else (no COPY TO, ATTACH,
    INSTALL, local files); any DuckDB error, at planning or while rows are produced, is one line.
    ``--format csv|json|parquet`` writes every row (``serving.exports``, the API's value rules)."""
    import duckdb

    from energy_orchestration.serving import exports
    from energy_orchestration.warehouse import default_warehouse

    if args.format == "table" and args.output:
        print("energy query: -o needs --format csv, json or parquet", file=sys.stderr)
        return 2
    if args.format == "parquet" and args.output in (None, "-"):
        print("energy query: --format parquet needs -o FILE (Parquet is binary)", file=sys.stderr)
        return 2
    with default_warehouse().connect(read_only=True, sandboxed=True) as connection:
        try:
            relation = connection.sql(args.sql)
            if args.format == "table":
                if relation is not None:
                    relation.show(max_rows=args.max_rows, max_width=200)
                return 0
            if relation is None:
                print("energy query: the statement returns no rows to write", file=sys.stderr)
                return 2
            started = time.monotonic()
            written = exports.to_output(lambda path: exports.write_relation(relation, args.format, path),
                                        args.output or "-", args.format, sys.stdout.buffer)
        except duckdb.Error as exc:
            print(f"energy query: {' '.join(str(exc).split())}", file=sys.stderr)
            return 2
    print(f"energy query: {_written(written, args.format, args.output or '-', started)}", file=sys.stderr)
    return 0


def _written(written: Written, fmt: str, output: str, started: float) -> str:
    """The status line of a written export: rows, MB, where, how long."""
    return (f"{written.rows:,} rows, {written.bytes / 1e6:.2f} MB {fmt} -> {'stdout' if output == '-' else output} "
            f"in {time.monotonic() - started:.1f} s")


def cmd_export(args: argparse.Namespace) -> int:
    """A zone's observations (``minute``) or aggregates between two local dates, as CSV or
    Parquet, through the API's export code (``serving.exports``); read-only on the warehouse."""
    from datetime import date

    from energy_orchestration.backfill import Progress
    from energy_orchestration.model import ZONES
    from energy_orchestration.serving import exports, queries
    from energy_orchestration.warehouse import default_warehouse

    def fail(message: str) -> int:
        print(f"energy export: {message}", file=sys.stderr)
        return 2

    if args.zone not in ZONES:
        return fail(f"unknown zone {args.zone!r}; known: {', '.join(ZONES)}")
    try:
        first, last = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError as exc:
        return fail(f"dates must be YYYY-MM-DD ({exc})")
    if first > last:
        return fail(f"--from {first} is after --to {last}")
    if not (1970 <= first.year and last.year <= 2100):
        return fail("dates must be between 1970 and 2100")
    if args.format == "parquet" and args.output == "-":
        return fail("--format parquet needs -o FILE (Parquet is binary); -o - writes CSV")
    if args.grain == "minute":
        start, end = queries.local_day_bounds(args.zone, first)[0], queries.local_day_bounds(args.zone, last)[1]
        selection, what = queries.observation_selection(args.zone, start, end), "observations"
    else:
        selection = queries.aggregate_selection(args.grain, args.zone, first, last)
        what = f"zone_{args.grain}" if args.grain != "hourly" else "zone_hourly"
    warehouse = default_warehouse()
    print(f"energy export: {args.zone} {args.grain} {first}..{last} (local dates) from {what} ...", file=sys.stderr)
    started = time.monotonic()

    def produce(path: Path) -> Written:
        with warehouse.connect(read_only=True) as db:
            return exports.write(db, selection, args.format, path)

    line = Progress(sys.stderr) if sys.stderr.isatty() else None  # redrawn in place on a terminal only
    try:
        written = exports.to_output(produce, args.output, args.format, sys.stdout.buffer,
                                    (lambda size: line.show(f"energy export: {size / 1e6:.1f} MB written ..."))
                                    if line else None)
    except queries.NoSuchTable as exc:
        return fail(f"{exc} (the aggregates are built by Dagster; `energy demo` or a backfill builds them)")
    finally:
        if line:
            line.done()
    print(f"energy export: {_written(written, args.format, args.output, started)}", file=sys.stderr)
    if written.rows == 0:
        print(f"energy export: 0 rows: {what} holds nothing for {args.zone} between {first} and {last}; "
              "the file has the header only", file=sys.stderr)
        return 1
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    """What one aggregate cell was built from (:mod:`warehouse.explain`), as text or JSON."""
    import json

    from energy_orchestration.model import ZONES
    from energy_orchestration.warehouse import default_warehouse
    from energy_orchestration.warehouse.explain import UnknownCell, as_json, explain_cell, parse_period, render

    if args.zone not in ZONES:
        print(f"energy explain: unknown zone {args.zone!r}; one of {', '.join(ZONES)}", file=sys.stderr)
        return 2
    try:
        period = parse_period(args.grain, args.period)
        with default_warehouse().connect(read_only=True) as connection:
            explanation = explain_cell(connection, args.zone, args.grain, period)
    except (UnknownCell, ValueError) as exc:
        print(f"energy explain: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(as_json(explanation), indent=2) if args.json else render(explanation))
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def cmd_backfill(args: argparse.Namespace) -> int:
    from datetime import date

    from energy_orchestration.assets.history import HISTORY_COMPANIONS, HISTORY_DATASETS, history_asset_key
    from energy_orchestration.backfill import (
        BackfillError,
        Progress,
        bar,
        days_between,
        days_built,
        launch,
        progress,
        range_error,
        summarise,
        summary_table,
    )
    from energy_orchestration.model import utc_now
    from energy_orchestration.warehouse import default_warehouse
    from energy_orchestration.warehouse.completeness import landed_per_day

    try:
        first, last = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError as exc:
        print(f"energy backfill: dates must be YYYY-MM-DD ({exc})", file=sys.stderr)
        return 2
    problem = range_error(first, last, utc_now())
    if problem:
        print(f"energy backfill: {problem}", file=sys.stderr)
        return 2
    unknown = sorted(set(args.datasets or []) - set(HISTORY_DATASETS))
    if unknown:
        print(f"energy backfill: unknown datasets {unknown}; known: {list(HISTORY_DATASETS)}", file=sys.stderr)
        return 2
    datasets = args.datasets or list(HISTORY_DATASETS)
    url = args.dagster_url.rstrip("/")
    since = utc_now().replace(tzinfo=None)
    line = Progress()
    try:
        backfill_id = launch(f"{url}/graphql", [list(history_asset_key(d).path) for d in datasets], first, last)
        print(f"backfill {backfill_id}: {len(datasets)} datasets, {first} .. {last}; "
              f"follow it at {url}/runs/b/{backfill_id}")
        if args.no_wait:
            return 0
        deadline = time.monotonic() + args.timeout
        while True:
            state = progress(f"{url}/graphql", backfill_id)
            line.show(bar("history fetched", state.materialized, state.targeted, state.status.lower()))
            if state.finished:
                break
            if time.monotonic() > deadline:
                raise BackfillError(f"still {state.status} after {args.timeout:g}s; it goes on in Dagster")
            time.sleep(1)
        line.done()
        warehouse = default_warehouse()
        days = [date.fromisoformat(d) for d in days_between(first, last)]
        counted = sorted(set(datasets) | {c for d, c in HISTORY_COMPANIONS.items() if d in datasets}
                         | {d for d, c in HISTORY_COMPANIONS.items() if c in datasets})
        with warehouse.connect(read_only=True) as connection:
            landed = landed_per_day(connection, counted, first, last)
        if not state.failed:
            with_data = len({day for (_, day), count in landed.items() if count})
            while (built := days_built(warehouse, first, last, since)) < with_data:
                line.show(bar("days aggregated", built, with_data, "landing -> zone_hourly -> zone_daily"))
                if time.monotonic() > deadline:
                    raise BackfillError(f"only {built} of {with_data} days with data aggregated after "
                                        f"{args.timeout:g}s")
                time.sleep(2)
            line.show(bar("days aggregated", with_data, with_data, "done"))
            line.done()
        failed = {d: state.failed_by_asset.get("/".join(history_asset_key(d).path), 0) for d in datasets}
        rows = summarise(landed, datasets, days, HISTORY_COMPANIONS, failed)
        print(summary_table(rows, HISTORY_COMPANIONS))
        bad = [row.dataset for row in rows if not row.ok]
        if state.failed and not any(failed.values()):
            bad.append(f"{state.failed} partitions")
        if bad:
            raise BackfillError(f"incomplete: {', '.join(bad)} (empty days or failed partitions; see the table)")
    except BackfillError as exc:
        line.done()
        print(f"energy backfill: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    print(settings.env_example() if args.env_example else settings.markdown_table(),
          end="" if args.env_example else "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="energy", description="Real-time electricity data platform.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the whole pipeline locally (broker, stand-in, consumer, Dagster)")
    demo.add_argument("--source", choices=["standin", "live"], default="standin",
                      help="local API stand-ins (default) or the real public APIs")
    demo.set_defaults(func=cmd_demo)

    up = sub.add_parser("up", help="run the production profile's services (external Kafka and PostgreSQL)")
    up.add_argument("--profile", choices=["production"], required=True)
    up.add_argument("--home",
                    help="folder for DAGSTER_HOME, workspace.yaml and logs (default $ENERGY_STATE_DIR/production)")
    up.add_argument("--code-port", type=int, default=4000, help="port of the gRPC code server")
    up.add_argument("--port", type=int, default=3000, help="port of the Dagster webserver")
    up.set_defaults(func=cmd_up)

    standin = sub.add_parser("standin", help="serve the local API stand-ins (Energi Data Service, ODRÉ)")
    standin.add_argument("--host", default="127.0.0.1")
    standin.add_argument("--port", type=int, default=settings.get_int("ENERGY_STANDIN_PORT"))
    standin.add_argument("--rate-limit", type=float, default=settings.get_float("ENERGY_STANDIN_RATE_LIMIT_PER_MINUTE"),
                         help="requests per dataset per minute per client (0 = unlimited)")
    standin.add_argument("--bad-record-rate", type=float, default=settings.get_float("ENERGY_STANDIN_BAD_RECORD_RATE"),
                         help="share of rows served with one deliberately invalid value (0..1)")
    standin.add_argument("--correction-rate", type=float, default=settings.get_float("ENERGY_STANDIN_CORRECTION_RATE"),
                         help="share of Energi Data Service rows corrected 2 minutes after publication (0..1)")
    standin.add_argument("--consolidation-hours", type=float,
                         default=settings.get_float("ENERGY_STANDIN_CONSOLIDATION_HOURS"),
                         help="hours after which éCO2mix real-time rows are consolidated (0 = 30 days)")
    standin.set_defaults(func=cmd_standin)

    consume = sub.add_parser("consume", help="land Kafka topics into DuckDB until SIGTERM")
    consume.set_defaults(func=cmd_consume)

    serve = sub.add_parser("serve", help="serve the HTTP API, the WebSocket live push and the dashboard")
    serve.add_argument("--host", default=None, help="bind address (default ENERGY_API_HOST)")
    serve.add_argument("--port", type=int, default=None, help="port (default ENERGY_API_PORT)")
    serve.set_defaults(func=cmd_serve)

    status = sub.add_parser("status", help="summarise what the warehouse holds")
    status.set_defaults(func=cmd_status)

    query = sub.add_parser("query", help="run read-only SQL on the warehouse (safe while the demo runs)")
    query.add_argument("sql")
    query.add_argument("--max-rows", type=_positive_int, default=60, help="rows shown at most (>= 1; table only)")
    query.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table",
                       help="table (default: boxed, --max-rows) or every row as csv/json (stdout or -o), parquet (-o)")
    query.add_argument("-o", "--output", help="write to FILE (csv, json, parquet); - = stdout")
    query.set_defaults(func=cmd_query)

    explain = sub.add_parser("explain", help="show what one aggregate cell was built from (datasets, coverage, "
                                             "refused values, revisions, the Dagster run)")
    explain.add_argument("--zone", required=True, help="zone id, e.g. DK-DK1 or FR-84")
    explain.add_argument("--grain", required=True, choices=["hourly", "daily", "weekly", "monthly"])
    explain.add_argument("--period", required=True,
                         help="hourly: the hour's UTC start (2025-06-01T12:00Z); else the period's first local date")
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    explain.set_defaults(func=cmd_explain)

    export = sub.add_parser("export", help="write a zone's observations or aggregates to CSV or Parquet")
    export.add_argument("--zone", required=True, help="zone id, e.g. DK-DK1 or FR-84")
    export.add_argument("--from", dest="start", required=True, help="first local day, YYYY-MM-DD")
    export.add_argument("--to", dest="end", required=True, help="last local day, YYYY-MM-DD (inclusive)")
    export.add_argument("--grain", required=True, choices=["minute", "hourly", "daily", "weekly", "monthly"],
                        help="minute = the observations as landed; else the zone_<grain> aggregate table")
    export.add_argument("--format", choices=["csv", "parquet"], default="csv", help="default csv")
    export.add_argument("-o", "--output", required=True, help="FILE, or - for CSV on stdout")
    export.set_defaults(func=cmd_export)

    backfill = sub.add_parser("backfill", help="re-fetch past local days through Kafka and rebuild their aggregates")
    backfill.add_argument("--from", dest="start", required=True, help="first local day, YYYY-MM-DD")
    backfill.add_argument("--to", dest="end", required=True, help="last local day, YYYY-MM-DD (inclusive)")
    backfill.add_argument("--datasets", nargs="+", help="only these datasets (default: every history asset)")
    backfill.add_argument("--dagster-url", default=f"http://127.0.0.1:{settings.get('ENERGY_DAGSTER_PORT')}",
                          help="the running Dagster webserver (default: the demo's)")
    backfill.add_argument("--timeout", type=float, default=3600, help="seconds to follow it before giving up")
    backfill.add_argument("--no-wait", action="store_true", help="launch and return at once")
    backfill.set_defaults(func=cmd_backfill)

    table = sub.add_parser("settings", help="print the environment variables and their defaults")
    table.add_argument("--env-example", action="store_true", help="print .env.example instead of the README table")
    table.set_defaults(func=cmd_settings)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Settings are checked before anything reads them (the parser's defaults do): a bad value is
    one line per variable and exit 2, for every command. Exit 2 also for a missing warehouse."""
    from energy_orchestration.warehouse import WarehouseBusy, WarehouseMissing

    bad = settings.problems()
    if bad:
        for line in bad:
            print(f"energy: {line}", file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    _logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except WarehouseMissing as exc:
        print(f"energy {args.command}: {exc}", file=sys.stderr)
        return 2
    except WarehouseBusy as exc:
        print(f"energy {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
