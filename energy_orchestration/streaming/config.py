"""librdkafka settings for every client, tuned so the same code is right on Apache Kafka and
fast on the embedded broker."""

from __future__ import annotations

from typing import Any

from energy_orchestration import settings

_PASS_THROUGH = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}


def client_config(bootstrap_servers: str) -> dict[str, Any]:
    """Connection settings shared by producers, consumers and admin clients."""
    config: dict[str, Any] = {"bootstrap.servers": bootstrap_servers, "client.id": "energy-orchestration"}
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
    # joins take ~1 s instead of ~23 s; 'earliest' because 'latest' is unreliable on the
    # embedded broker and a new group should land what is already there anyway. The fetch wait
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


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """A config safe to log: secrets replaced."""
    return {k: ("***" if "password" in k or "secret" in k else v) for k, v in config.items()}
