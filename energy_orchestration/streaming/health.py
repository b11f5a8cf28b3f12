"""The landing consumer's own account of itself, in a small file next to the warehouse.

The warehouse cannot say that landing is stuck: a stuck consumer writes nothing there, and
the last ingest-log row keeps showing the lag it measured when it last succeeded ("lag 0").
So the consumer records its health where it can always write, a JSON file beside the
warehouse (``<warehouse>.landing-health.json``), and `energy status`, ``/health``,
``/api/v1/freshness`` and a Dagster check read it: "landing stalled since …, last error …".

Plain functions, no Kafka or DuckDB imports, so every reader can use them cheaply.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

HEARTBEAT_STALE_SECONDS = 120.0
"""A running consumer rewrites its file at least every few seconds; a file older than this,
whose consumer never said it stopped, belongs to a consumer that died (kill -9, OOM)."""


def health_path(warehouse_path: Path) -> Path:
    return warehouse_path.with_name(warehouse_path.name + ".landing-health.json")


@dataclass
class LandingHealth:
    """What the consumer last said about itself (times: naive UTC, ISO text)."""

    state: str = "starting"  # starting | landing | stalled | stopped | failed
    pid: int = 0
    group: str = ""
    updated_utc: str = ""
    last_landed_utc: str | None = None
    last_error: str | None = None
    last_error_utc: str | None = None
    stalled_since_utc: str | None = None
    """Set from the first failed attempt of a batch that has not landed yet, cleared when it lands."""


class HealthRecorder:
    """Thread-safe writer of the health file; each update rewrites it atomically."""

    def __init__(self, warehouse_path: Path, group: str) -> None:
        self.path = health_path(warehouse_path)
        self._lock = threading.Lock()
        self._health = LandingHealth(pid=os.getpid(), group=group)
        self._written = 0.0

    @property
    def stalled_since(self) -> str | None:
        return self._health.stalled_since_utc

    def landed(self) -> None:
        now = _now()
        with self._lock:
            self._health.state, self._health.last_landed_utc, self._health.stalled_since_utc = "landing", now, None
            self._write_locked(throttle=True)

    def failed(self, error: str) -> None:
        now = _now()
        with self._lock:
            h = self._health
            h.state, h.last_error, h.last_error_utc = "stalled", error[:2000], now
            h.stalled_since_utc = h.stalled_since_utc or now
            self._write_locked()

    def finished(self, state: str, error: str | None = None) -> None:
        now = _now()
        with self._lock:
            self._health.state = state
            if error:
                self._health.last_error, self._health.last_error_utc = error[:2000], now
            self._write_locked()

    def heartbeat(self) -> None:
        with self._lock:
            self._write_locked(throttle=True)

    def _write_locked(self, throttle: bool = False) -> None:
        moment = datetime.now(timezone.utc).timestamp()
        if throttle and moment - self._written < 2.0:
            return
        self._written = moment
        self._health.updated_utc = _now()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            temporary.write_text(json.dumps(asdict(self._health)))
            os.replace(temporary, self.path)
        except OSError:  # health reporting must never stop landing
            pass


def read_health(warehouse_path: Path) -> LandingHealth | None:
    """The consumer's last word, or None when no consumer ever ran against this warehouse."""
    try:
        document = json.loads(health_path(warehouse_path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict):
        return None
    known = LandingHealth.__dataclass_fields__
    return LandingHealth(**{k: v for k, v in document.items() if k in known})


def describe(health: LandingHealth | None, now: datetime) -> dict[str, Any]:
    """Health as readers report it: ``ok`` false with a sentence when landing is stalled, the
    consumer failed, or its heartbeat stopped. ``now`` is naive UTC (passed in: no wall clock
    in the judgement, so it can be tested)."""
    if health is None:
        return {"ok": True, "state": "unknown", "message": "no landing consumer has reported on this warehouse"}
    base = {"state": health.state, "last_landed_utc": health.last_landed_utc, "last_error": health.last_error,
            "stalled_since_utc": health.stalled_since_utc, "updated_utc": health.updated_utc}
    if health.state == "stalled":
        return {**base, "ok": False, "message": f"landing stalled since {health.stalled_since_utc} UTC, "
                                                f"last error: {health.last_error}"}
    if health.state == "failed":
        return {**base, "ok": False, "message": f"the landing consumer failed at {health.last_error_utc} UTC: "
                                                f"{health.last_error}"}
    try:
        updated = datetime.fromisoformat(health.updated_utc) if health.updated_utc else None
    except (TypeError, ValueError):  # a damaged file must not break /health
        updated = None
    if health.state != "stopped" and updated is not None:
        age = (now - updated).total_seconds()
        if age > HEARTBEAT_STALE_SECONDS:
            return {**base, "ok": False, "state": "silent",
                    "message": f"the landing consumer (pid {health.pid}) has not reported since "
                               f"{health.updated_utc} UTC ({age:.0f} s): it is not running or is stuck"}
    return {**base, "ok": True, "message": f"landing consumer {health.state}"}


def _now() -> str:
    return datetime.now(timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
