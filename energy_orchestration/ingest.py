"""The live fetch path as plain functions: which window is due, and fetch-then-publish it.

The Dagster sensor and op in ``sensors/fetch.py`` only call these, so the rules that keep the
record gap-free are tested without Dagster.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from confluent_kafka import Producer

from energy_orchestration.model import to_json, utc_now
from energy_orchestration.sources import DATASETS
from energy_orchestration.sources.contract import SourceClient
from energy_orchestration.sources.http import NotYetPublished, SourceError
from energy_orchestration.streaming.producer import new_producer, publish_records
from energy_orchestration.streaming.topics import all_topics, ensure_topics, raw_topic
from energy_orchestration.warehouse import LANDING_CLAIM, Warehouse
from energy_orchestration.warehouse.landing import QuarantineRow, insert_quarantine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Window:
    dataset: str
    start: datetime  # aware UTC, inclusive
    end: datetime    # aware UTC, exclusive

    def __str__(self) -> str:
        return f"{self.dataset} [{self.start:%Y-%m-%d %H:%M}, {self.end:%Y-%m-%d %H:%M}) UTC"


@dataclass(frozen=True)
class WindowPolicy:
    overlap: timedelta = timedelta(minutes=5)
    initial_lookback: timedelta = timedelta(minutes=15)
    max_window: timedelta = timedelta(hours=24)


def floor_to(moment: datetime, step: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    return epoch + ((moment - epoch) // step) * step


def cut_windows(dataset: str, start: datetime, end: datetime, longest: timedelta) -> list[Window]:
    """``[start, end)`` cut into consecutive windows of at most ``longest``, so one request
    (history backfill) or one repair (gap repair) never asks a provider for more than that."""
    windows, cursor = [], start
    while cursor < end:
        stop = min(end, cursor + longest)
        windows.append(Window(dataset, cursor, stop))
        cursor = stop
    return windows


LIVE_MARGIN = timedelta(minutes=5)
"""The newest intervals belong to the live fetch (which re-reads its last minutes anyway):
neither the checks nor the repairs count them as missing yet."""


def due_end(dataset: str, now: datetime) -> datetime:
    """The end of the intervals that should have landed by now (naive UTC): the provider has
    published them and the live fetch has had its chance."""
    spec = DATASETS[dataset]
    lag = timedelta(minutes=spec.publication_lag_minutes) + LIVE_MARGIN
    return floor_to(now - lag, timedelta(minutes=spec.interval_minutes)).astimezone(timezone.utc).replace(tzinfo=None)


def plan_window(dataset: str, now: datetime, acked_until: datetime | None, policy: WindowPolicy) -> Window | None:
    """The next window to fetch, or None when no new interval can be published yet.

    A window ends at the last interval the provider can have published (its step and
    publication lag decide the cadence: every minute for 1-minute data, every quarter-hour
    for éCO2mix). It starts ``overlap`` before the end of the last window the broker
    acknowledged, so late rows are picked up and a failed run leaves no gap: the next success
    covers it. A long outage is caught up ``max_window`` at a time.
    """
    spec = DATASETS[dataset]
    step = timedelta(minutes=spec.interval_minutes)
    lag = timedelta(minutes=spec.publication_lag_minutes)
    end = floor_to(now - lag, step)
    if acked_until is not None and end <= acked_until:
        return None
    if acked_until is None:
        start = floor_to(end - policy.initial_lookback, step)
    else:
        start = floor_to(acked_until - policy.overlap, step)
    if end - start > policy.max_window:
        end = start + policy.max_window
    if end <= start:
        return None
    return Window(dataset, start, end)


def estimated_requests(window: Window) -> int:
    """Requests a window will cost its provider.

    See :meth:`~energy_orchestration.sources.contract.Dataset.requests_for`.
    """
    spec = DATASETS[window.dataset]
    return spec.requests_for(int((window.end - window.start) / timedelta(minutes=spec.interval_minutes)))


@dataclass(frozen=True)
class FetchOutcome:
    window: Window
    fetched: int
    published: int
    acked_until: datetime | None
    """End of the window when every record was acknowledged; None when nothing was published."""
    note: str = ""


def fetch_and_publish(client: SourceClient, bootstrap_servers: str, window: Window,
                      warehouse: Warehouse | None = None,
                      on_records: Callable[[list[Any]], None] | None = None,
                      flush_timeout: float = 60.0, producer: Producer | None = None) -> FetchOutcome:
    """Fetch one window and publish every record; returns only once the broker acknowledged all.

    A page the provider got wrong (not JSON, no records list) is kept in the quarantine with
    its body before the error is raised, so nothing a provider sent is lost. ``on_records`` sees
    the fetched records before they are published (history backfills note their keys, so they
    can tell later whether every one of them landed). ``producer``: see
    :func:`~energy_orchestration.streaming.producer.publish_records`.
    """
    spec = DATASETS[window.dataset]
    fetched_at = utc_now()
    try:
        records = client.fetch_window(window.dataset, window.start, window.end)
    except NotYetPublished as exc:
        log.info("%s: %s", window, exc)
        return FetchOutcome(window, 0, 0, None, note=str(exc))
    except SourceError as exc:
        if warehouse is not None and exc.body and exc.status is not None and exc.status < 300:
            row = QuarantineRow(source_id=f"fetch:{exc.url}@{fetched_at.isoformat()}", rule="bad_page",
                                stage="fetch", reason=str(exc)[:1000], dataset=window.dataset,
                                payload=exc.body[:1_000_000])
            warehouse.write(lambda connection: insert_quarantine(connection, [row], fetched_at.replace(tzinfo=None)),
                            what="quarantining a bad page", claim=LANDING_CLAIM)
        raise
    if on_records is not None:
        on_records(records)
    ensure_topics(bootstrap_servers, all_topics([window.dataset]))
    result = publish_records(bootstrap_servers, raw_topic(window.dataset), spec.provider, window.dataset,
                             records, spec.message_zone, fetched_at, flush_timeout=flush_timeout,
                             producer=producer)
    log.info("%s: fetched %d records, %d acknowledged by the broker", window, len(records), result.delivered)
    return FetchOutcome(window, len(records), result.delivered, window.end)


MIN_PUBLISH_SECONDS = 5.0
"""Least time a fetched window gets for its acknowledgements, even when the budget is nearly spent:
records already fetched are worth publishing (a local broker acknowledges in milliseconds)."""


@dataclass(frozen=True)
class TickOutcome:
    outcomes: list[FetchOutcome]
    failures: list[tuple[Window, str]]
    """Windows that failed, with why; their datasets' cursors stay put, so the next tick re-covers them."""
    not_reached: list[Window]
    """Windows the budget ran out before; the next tick covers them (their cursors stay put too)."""


def fetch_windows_within(windows: list[Window], client_for: Callable[[str, float], SourceClient],
                         bootstrap_servers: str, warehouse: Warehouse | None, deadline: float,
                         clock: Callable[[], float] = time.monotonic,
                         producer_for: Callable[[str, float], Producer] = new_producer) -> TickOutcome:
    """Fetch and publish windows one after another until ``deadline`` (``clock()`` time).

    The live sensor calls this inside its evaluation, which Dagster times out, so every provider
    call is cut off by the deadline (``client_for(provider, deadline)`` builds a client bounded by
    it) and windows not started in time are left for the next tick. One dataset failing does not
    stop the others; a failed window is reported, never acknowledged.

    The windows share one producer, created as the first one starts: a new producer may wait up
    to 0.5-1 s for its producer id (streaming/producer.py), which one producer per window paid
    once per due dataset. A failed window drops it, so the next window starts on a fresh one.
    ``producer_for(bootstrap_servers, timeout)`` makes it (unit tests pass a stand-in).
    """
    outcomes: list[FetchOutcome] = []
    failures: list[tuple[Window, str]] = []
    producer: Producer | None = None
    for index, window in enumerate(windows):
        if deadline - clock() <= 0.1:
            return TickOutcome(outcomes, failures, windows[index:])
        try:
            client = client_for(DATASETS[window.dataset].provider, deadline)
            producer = producer or producer_for(bootstrap_servers, max(0.1, deadline - clock()))
            outcomes.append(fetch_and_publish(client, bootstrap_servers, window, warehouse,
                                              flush_timeout=max(MIN_PUBLISH_SECONDS, deadline - clock()),
                                              producer=producer))
        except Exception as exc:  # one dataset failing must not stop the others
            log.error("%s: %s: %s", window, type(exc).__name__, exc)
            failures.append((window, f"{type(exc).__name__}: {exc}"))
            producer = None
    return TickOutcome(outcomes, failures, [])


def describe(outcome: FetchOutcome) -> str:
    return to_json({"window": str(outcome.window), "fetched": outcome.fetched, "published": outcome.published,
                    "acked_until": outcome.acked_until.isoformat() if outcome.acked_until else None,
                    "note": outcome.note})
