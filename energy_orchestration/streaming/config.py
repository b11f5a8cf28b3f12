"""librdkafka settings for every client, tuned so the same code is right on Apache Kafka and
fast on the embedded broker.

Real Kafka behaviour is the default. Every workaround for the embedded broker (Tansu, which
keeps topics in memory and answers ``ListOffsets(latest)`` wrongly) is decided here, by
:func:`embedded_broker`, and applies only when the platform itself started that broker:

- the API's cache feeder replays the raw topics from the earliest offset and counts itself
  caught up at the high watermarks its fetches report (:func:`feeder_replays_topics`); against
  a cluster it starts at the newest messages, the cache being seeded from the warehouse;
- the feeder re-reads a partition from its start when the broker's high watermark falls below
  its read position: the embedded broker lost its topics in a restart (a real cluster never
  goes back, so there the same check only logs).

Deliberate on both, not workarounds: the landing consumer's ``auto.offset.reset=earliest`` (a
new group lands what the topics retain; landing is idempotent, skipping it would lose data),
lag from the watermarks the last fetch reported (no extra request per partition), and
per-run producers (a Dagster run is a short-lived process anyway; ``message.timeout.ms`` is
bounded so a lost broker fails the run instead of hanging it).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from energy_orchestration import settings

_PASS_THROUGH = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}


_STARTED_HERE: set[str] = set()
"""Bootstrap addresses of embedded brokers this process started (streaming/broker.py)."""


def register_embedded_broker(bootstrap_servers: str) -> None:
    _STARTED_HERE.add(bootstrap_servers)


def embedded_broker(bootstrap_servers: str) -> bool:
    """Whether ``bootstrap_servers`` is an embedded broker the platform started: in this process
    (:class:`~energy_orchestration.streaming.broker.EmbeddedBroker`) or by ``energy demo``,
    which sets ``ENERGY_KAFKA_EMBEDDED=1`` for its children. Never guessed from the address."""
    return bootstrap_servers in _STARTED_HERE or settings.get("ENERGY_KAFKA_EMBEDDED") == "1"


def feeder_replays_topics(bootstrap_servers: str) -> bool:
    """The API cache feeder's start: replay from the earliest offset (embedded broker, which
    cannot be asked for the end) or start at the newest messages (a real cluster)."""
    return embedded_broker(bootstrap_servers)


class _RateLimitedLog(logging.Filter):
    """librdkafka repeats the same line ("Connection refused") several times a second while a
    broker is down: let the first few of each kind through, then one summary a minute."""

    def __init__(self, burst: int = 3, period: float = 60.0) -> None:
        super().__init__()
        self.burst, self.period = burst, period
        self._lock = threading.Lock()
        self._seen: dict[str, tuple[float, int, int]] = {}  # kind -> (window start, passed, suppressed)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kind = message.split(":")[0][:60] + ("refused" if "refused" in message else "")
        now = time.monotonic()
        with self._lock:
            start, passed, suppressed = self._seen.get(kind, (now, 0, 0))
            if now - start >= self.period:
                if suppressed:
                    record.msg = f"{record.msg} ({suppressed} similar lines suppressed in the last {now - start:.0f}s)"
                self._seen[kind] = (now, 1, 0)
                return True
            if passed < self.burst:
                self._seen[kind] = (start, passed + 1, suppressed)
                return True
            self._seen[kind] = (start, passed, suppressed + 1)
            return False


def client_logger() -> logging.Logger:
    """The logger every client hands librdkafka's own log lines to, rate-limited per kind."""
    logger = logging.getLogger("energy_orchestration.kafka")
    if not any(isinstance(f, _RateLimitedLog) for f in logger.filters):
        logger.addFilter(_RateLimitedLog())
    return logger


def client_config(bootstrap_servers: str) -> dict[str, Any]:
    """Connection settings shared by producers, consumers and admin clients."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "client.id": "energy-orchestration",
                              "logger": client_logger()}
    for env_name, key in _PASS_THROUGH.items():
        value = settings.get(env_name)
        if value:
            config[key] = value
    return config


def producer_config(bootstrap_servers: str) -> dict[str, Any]:
    # Idempotent + acks=all: no duplicates or reordering from retries within a session. The
    # timeout is bounded because an idempotent producer whose broker restarted retries
    # silently until it expires; producers are short-lived for the same reason.
    return {
        **client_config(bootstrap_servers),
        "enable.idempotence": True,
        "acks": "all",
        "message.timeout.ms": 30_000,
        "linger.ms": 20,
        "compression.type": "lz4",
    }


def consumer_config(bootstrap_servers: str, group_id: str) -> dict[str, Any]:
    # Offsets are committed by hand after the DuckDB commit. Short session timeouts make group
    # joins take ~1 s instead of ~23 s; 'earliest' because a new group should land what the
    # topics retain (on any broker; see the module docstring). The fetch wait
    # trades latency for idle CPU (benchmarks/README.md): minute data does not need 2 ms.
    return {
        **client_config(bootstrap_servers),
        "group.id": group_id,
        "group.protocol": "classic",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6_000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": settings.get_int("ENERGY_CONSUMER_FETCH_WAIT_MS"),
        "max.poll.interval.ms": 300_000,
    }


def feeder_config(bootstrap_servers: str, group_id: str) -> dict[str, Any]:
    """The API cache feeder: assigned partitions (no group membership), nothing committed.
    Its fetch wait (``ENERGY_API_FEEDER_FETCH_WAIT_MS``) sets how often the idle broker answers an
    empty fetch, and bounds how long a record arriving mid-fetch may wait: at 2000 ms the median
    push was 3x slower for 2 % less idle CPU (benchmarks/README.md, issue 11). 1 s once broke
    tests/integration/test_live_push.py: the feeder took an empty poll during a held fetch for
    "caught up"; it now waits for the partitions' high watermarks (serving/feeder.py)."""
    return {**consumer_config(bootstrap_servers, group_id),
            "fetch.wait.max.ms": settings.get_int("ENERGY_API_FEEDER_FETCH_WAIT_MS"),
            "auto.offset.reset": "earliest" if feeder_replays_topics(bootstrap_servers) else "latest"}


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """A config safe to log: secrets replaced."""
    return {k: ("***" if "password" in k or "secret" in k else v) for k, v in config.items() if k != "logger"}
