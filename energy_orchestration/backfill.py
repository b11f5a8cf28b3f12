"""`energy backfill --from --to`: the same backfill a user launches in the Dagster UI, from a terminal.

It goes through the running Dagster's GraphQL API (so the backfill shows up in the UI, with the
same runs, retries and history), launches the history assets over the local days asked for,
then follows it to the end: first the history runs, then the landed days appearing in
``zone_daily``, with a progress bar for each.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import requests

from energy_orchestration import settings
from energy_orchestration.warehouse import Warehouse

PARTITION_TIME_ZONE = "Europe/Paris"
"""The local calendar of the history partitions (``assets.partitions.LOCAL_TIME_ZONE``)."""

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on UnauthorizedError { message }
    ... on PartitionSetNotFoundError { message }
  }
}"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      status
      assetBackfillData { assetBackfillStatuses {
        ... on AssetPartitionsStatusCounts {
          assetKey { path } numPartitionsTargeted numPartitionsInProgress numPartitionsMaterialized numPartitionsFailed
        } } }
    }
    ... on PythonError { message }
    ... on BackfillNotFoundError { message }
  }
}"""

FINISHED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


class BackfillError(RuntimeError):
    pass


def days_between(first: date, last: date) -> list[str]:
    if last < first:
        raise BackfillError(f"--to {last} is before --from {first}")
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def partition_days(now: datetime) -> tuple[date, date]:
    """The first and last local day a history backfill can cover: ENERGY_PARTITIONS_START .. today.

    Checked here, before anything is launched, because Dagster answers a backfill over keys that
    are not partitions with an internal error (``Multiple initial assets not yet supported``).
    ``now`` comes from the platform's clock (``model.utc_now``), never from the machine directly.
    """
    first = date.fromisoformat(settings.get("ENERGY_PARTITIONS_START"))
    today = now.astimezone(ZoneInfo(PARTITION_TIME_ZONE)).date()
    return first, today


def range_error(first: date, last: date, now: datetime) -> str | None:
    """One line saying why ``first .. last`` cannot be backfilled, or None when it can."""
    if last < first:
        return f"--to {last} is before --from {first}"
    earliest, today = partition_days(now)
    if first < earliest or last > today:
        return (f"{first} .. {last} is outside the history partitions {earliest} .. {today} "
                f"(ENERGY_PARTITIONS_START .. today, {PARTITION_TIME_ZONE}); nothing was launched")
    return None


def graphql(url: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    try:
        answer = requests.post(url, json={"query": query, "variables": variables}, timeout=30)
    except requests.RequestException as exc:
        raise BackfillError(f"cannot reach Dagster at {url} ({exc}); is `energy demo` running?") from exc
    try:
        body = answer.json()
    except ValueError:
        raise BackfillError(f"Dagster at {url} answered HTTP {answer.status_code}: {answer.text[:300]}") from None
    if body.get("errors"):
        raise BackfillError(f"GraphQL error: {body['errors'][0].get('message')}")
    return body["data"]


def launch(url: str, asset_paths: list[list[str]], first: date, last: date) -> str:
    """Start an asset backfill over local days; returns its id (as shown in the UI)."""
    params = {"partitionNames": days_between(first, last), "assetSelection": [{"path": p} for p in asset_paths],
              "tags": [{"key": "energy/reason", "value": f"backfill {first}..{last}"}]}
    result = graphql(url, LAUNCH, {"params": params})["launchPartitionBackfill"]
    problem = launch_error(result, first, last)
    if problem:
        raise BackfillError(problem)
    return result["backfillId"]


def launch_error(result: dict[str, Any], first: date, last: date) -> str | None:
    """What a ``launchPartitionBackfill`` answer means for the user, or None on success.

    Dagster (1.13) answers partition keys that do not exist with an internal CheckError
    ("Multiple initial assets not yet supported"); say what it means instead."""
    if result["__typename"] == "LaunchBackfillSuccess":
        return None
    if "Multiple initial assets not yet supported" in str(result.get("message")):
        return (f"{first} .. {last} holds days that are not history partitions "
                "(ENERGY_PARTITIONS_START .. today); nothing was launched")
    return f"{result['__typename']}: {result.get('message')}"


@dataclass(frozen=True)
class BackfillProgress:
    status: str
    targeted: int
    materialized: int
    failed: int
    failed_by_asset: dict[str, int] = field(default_factory=dict)
    """Failed partitions per asset key path (``history/co2emis``)."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def progress(url: str, backfill_id: str) -> BackfillProgress:
    answer = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
    if answer["__typename"] != "PartitionBackfill":
        raise BackfillError(f"{answer['__typename']}: {answer.get('message')}")
    counts = [s for s in (answer.get("assetBackfillData") or {}).get("assetBackfillStatuses", []) if s]
    return BackfillProgress(status=answer["status"],
                            targeted=sum(s["numPartitionsTargeted"] for s in counts),
                            materialized=sum(s["numPartitionsMaterialized"] for s in counts),
                            failed=sum(s["numPartitionsFailed"] for s in counts),
                            failed_by_asset={"/".join(s["assetKey"]["path"]): s["numPartitionsFailed"]
                                             for s in counts if s.get("assetKey")})


def days_built(warehouse: Warehouse, first: date, last: date, since_utc: Any) -> int:
    """Local days of the range that zone_daily (re)built since the backfill started."""
    with warehouse.connect(read_only=True) as connection:
        return int(connection.execute("""
            SELECT count(DISTINCT local_date) FROM zone_daily
            WHERE local_date BETWEEN ? AND ? AND built_at_utc >= ?
        """, [first, last, since_utc]).fetchall()[0][0])


def bar(label: str, done: int, total: int, note: str = "", width: int = 30) -> str:
    filled = int(width * done / total) if total else width
    return f"{label:<22} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {note}".rstrip()


class Progress:
    """One status line, redrawn in place on a terminal, printed when it changes otherwise."""

    def __init__(self, stream: TextIO = sys.stdout) -> None:
        self.stream, self.last = stream, ""
        self.tty = hasattr(stream, "isatty") and stream.isatty()

    def show(self, line: str) -> None:
        if line == self.last:
            return
        self.stream.write(("\r" + line.ljust(len(self.last))) if self.tty else line + "\n")
        self.stream.flush()
        self.last = line

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self.last = ""


@dataclass(frozen=True)
class DatasetSummary:
    """What a backfill got for one dataset, counted in the warehouse (landed, not just fetched)."""

    dataset: str
    days: int
    records: int
    empty_days: list[date]
    """Requested days with no record of this dataset in the warehouse."""
    uncovered_days: list[date]
    """Empty days its companion dataset (real-time <-> consolidated) has nothing for either."""
    failed_partitions: int

    @property
    def ok(self) -> bool:
        return not self.uncovered_days and not self.failed_partitions


def summarise(landed: dict[tuple[str, date], int], datasets: list[str], days: list[date],
              companions: dict[str, str], failed: dict[str, int]) -> list[DatasetSummary]:
    """Per dataset: days requested, records landed, days empty, and which empty days nobody
    covers. A real-time éCO2mix set is rightly empty for days older than its window and a
    consolidated one for recent days: an empty day counts against the backfill only when the
    dataset's companion (in either direction) has nothing for it either."""
    partner = {**companions, **{older: live for live, older in companions.items()}}
    out = []
    for dataset in datasets:
        empty = [day for day in days if not landed.get((dataset, day))]
        other = partner.get(dataset)
        uncovered = [day for day in empty if other is None or not landed.get((other, day))]
        out.append(DatasetSummary(dataset, len(days), sum(landed.get((dataset, day), 0) for day in days),
                                  empty, uncovered, failed.get(dataset, 0)))
    return out


def summary_table(rows: list[DatasetSummary], companions: dict[str, str]) -> str:
    """The table ``energy backfill`` ends with; the last column says why a row is not fine."""
    partner = {**companions, **{older: live for live, older in companions.items()}}
    width = max([len("dataset"), *(len(r.dataset) for r in rows)])
    lines = [f"{'dataset':<{width}}  {'days':>5}  {'records landed':>14}  {'days empty':>10}  note"]
    for row in rows:
        if row.failed_partitions:
            note = f"FAILED: {row.failed_partitions} partitions failed (see the backfill's runs)"
        elif row.uncovered_days:
            shown = ", ".join(str(d) for d in row.uncovered_days[:5]) + (" …" if len(row.uncovered_days) > 5 else "")
            note = f"EMPTY: no data for {len(row.uncovered_days)} days ({shown})"
        elif row.empty_days:
            note = f"ok: {partner[row.dataset]} holds its {len(row.empty_days)} empty days"
        else:
            note = "ok"
        lines.append(f"{row.dataset:<{width}}  {row.days:>5}  {row.records:>14}  {len(row.empty_days):>10}  {note}")
    return "\n".join(lines)
