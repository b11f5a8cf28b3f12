"""The latest canonical value per (zone, quantity), and the latest message per (topic, zone).

Filled from two places that must agree: the warehouse on start-up (so a restarted API is not
empty) and the raw Kafka topics afterwards (see :mod:`.feeder`). Both go through the same
``normalise`` + ``model.apply_record_rules`` as the landing consumer, so the cache never shows
a value the warehouse refused.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class Reading:
    """One canonical observation as the API serves it (times naive UTC)."""

    dataset: str
    zone: str
    quantity: str
    interval_start_utc: datetime
    interval_minutes: int
    value: float
    unit: str
    status: str

    def as_json(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "zone": self.zone, "quantity": self.quantity,
                "interval_start_utc": iso_utc(self.interval_start_utc), "interval_minutes": self.interval_minutes,
                "value": self.value, "unit": self.unit, "status": self.status}


def iso_utc(moment: datetime) -> str:
    """ISO 8601 with a ``Z``: every time the API emits is UTC and says so."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def readings_from_frame(frame: pd.DataFrame) -> list[Reading]:
    """Canonical observation rows (``model.OBSERVATION_COLUMNS`` or the warehouse's columns)."""
    if frame.empty:
        return []
    columns = [frame[c].tolist() for c in ("dataset", "zone", "quantity", "interval_start_utc",
                                            "interval_minutes", "value", "unit", "status")]
    readings = []
    for dataset, zone, quantity, start, minutes, value, unit, status in zip(*columns, strict=False):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        start = start.to_pydatetime() if hasattr(start, "to_pydatetime") else start
        readings.append(Reading(str(dataset), str(zone), str(quantity), start.replace(tzinfo=None),
                                int(minutes), float(value), str(unit), str(status)))
    return readings


def message_for(topic: str, readings: list[Reading]) -> dict[str, Any]:
    """The push message of one record's values for one zone and interval."""
    first = readings[0]
    return {"type": "observation", "topic": topic, "dataset": first.dataset, "zone": first.zone,
            "interval_start_utc": iso_utc(first.interval_start_utc), "interval_minutes": first.interval_minutes,
            "status": first.status,
            "values": {r.quantity: {"value": r.value, "unit": r.unit} for r in readings}}


def group_messages(topic_of: dict[str, str], readings: Iterable[Reading]) -> list[dict[str, Any]]:
    """Readings grouped into one message per (dataset, zone, interval), in arrival order."""
    groups: dict[tuple[str, str, datetime], list[Reading]] = {}
    for reading in readings:
        groups.setdefault((reading.dataset, reading.zone, reading.interval_start_utc), []).append(reading)
    return [message_for(topic_of[dataset], group) for (dataset, _, _), group in groups.items()]


class LatestCache:
    """Thread-safe: the Kafka feeder thread writes, request handlers read.

    A value replaces the cached one only if its interval is as new or newer, so replays and
    late rows never move "latest" backwards; a re-fetched interval (same start) may correct it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, str], Reading] = {}
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.updated = 0

    def apply(self, topic_of: dict[str, str], readings: list[Reading]) -> list[dict[str, Any]]:
        """Take new readings; return every message they make (new or old intervals alike)."""
        messages = group_messages(topic_of, readings)
        with self._lock:
            for reading in readings:
                key = (reading.zone, reading.quantity)
                current = self._values.get(key)
                if current is None or reading.interval_start_utc >= current.interval_start_utc:
                    self._values[key] = reading
                    self.updated += 1
            for message in messages:
                key = (message["topic"], message["zone"])
                current = self._messages.get(key)
                if current is None or message["interval_start_utc"] > current["interval_start_utc"]:
                    self._messages[key] = message
                elif message["interval_start_utc"] == current["interval_start_utc"]:
                    self._messages[key] = {**current, "values": {**current["values"], **message["values"]},
                                           "status": message["status"]}
        return messages

    def latest(self, zone: str | None = None) -> list[Reading]:
        with self._lock:
            values = list(self._values.values())
        chosen = [r for r in values if zone is None or r.zone == zone]
        return sorted(chosen, key=lambda r: (r.zone, r.quantity))

    def snapshot(self) -> list[dict[str, Any]]:
        """The latest message per (topic, zone): what a WebSocket client gets on connect."""
        with self._lock:
            return [self._messages[k] for k in sorted(self._messages)]

    def __len__(self) -> int:
        with self._lock:
            return len(self._values)
