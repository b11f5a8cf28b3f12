"""Topic names and their explicit creation (the embedded broker forgets topics on restart)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from energy_orchestration import settings
from energy_orchestration.streaming.config import client_config

log = logging.getLogger(__name__)


def raw_topic(dataset: str) -> str:
    """One topic per dataset: ``energy.raw.powersystemrightnow``."""
    return f"{settings.get('ENERGY_TOPIC_PREFIX')}.raw.{dataset.lower()}"


def dead_letter_topic() -> str:
    return f"{settings.get('ENERGY_TOPIC_PREFIX')}.dlq"


def all_topics(datasets: list[str]) -> list[str]:
    return [raw_topic(d) for d in datasets] + [dead_letter_topic()]


def ensure_topics(bootstrap_servers: str, topics: list[str], partitions: int | None = None,
                  replication_factor: int = -1, timeout: float = 15.0) -> None:
    """Create missing topics; existing ones are left as they are.

    ``replication_factor=-1`` lets a real cluster apply its default.
    """
    partitions = partitions or settings.get_int("ENERGY_TOPIC_PARTITIONS")
    admin = AdminClient(client_config(bootstrap_servers))
    existing = set(admin.list_topics(timeout=timeout).topics)
    missing = [t for t in topics if t not in existing]
    if not missing:
        return
    futures = admin.create_topics([NewTopic(t, partitions, replication_factor) for t in missing],
                                  operation_timeout=timeout, request_timeout=timeout)
    for topic, future in futures.items():
        try:
            future.result()
            log.info("created topic %s (%d partitions)", topic, partitions)
        except KafkaException as exc:
            if exc.args and exc.args[0].name() == "TOPIC_ALREADY_EXISTS":
                continue
            raise
