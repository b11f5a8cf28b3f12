"""The API server's configuration, read once from settings and checked before anything starts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from energy_orchestration import settings
from energy_orchestration.serving.auth import AuthPolicy
from energy_orchestration.serving.push import compile_allow_list


@dataclass(frozen=True)
class ServerConfig:
    """Defaults are the settings' documented defaults (tests build configs without the environment)."""

    host: str = settings.default("ENERGY_API_HOST")
    port: int = int(settings.default("ENERGY_API_PORT"))
    auth: AuthPolicy = field(default_factory=lambda: AuthPolicy(False))
    cors_origins: tuple[str, ...] = ()
    topic_allow: re.Pattern[str] = field(
        default_factory=lambda: re.compile(settings.default("ENERGY_API_WS_TOPIC_ALLOW")))
    queue_size: int = int(settings.default("ENERGY_API_WS_QUEUE_SIZE"))
    stale_after_seconds: float = float(settings.default("ENERGY_API_STALE_AFTER_SECONDS"))
    consumer_group: str = settings.default("ENERGY_API_CONSUMER_GROUP")
    live_datasets: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, host: str | None = None, port: int | None = None) -> "ServerConfig":
        """Fails fast (ValueError) on a setting that would make the server insecure or broken."""
        host = host or settings.get("ENERGY_API_HOST")
        queue_size = settings.get_int("ENERGY_API_WS_QUEUE_SIZE")
        if queue_size < 1:
            raise ValueError("ENERGY_API_WS_QUEUE_SIZE must be at least 1")
        return cls(
            host=host,
            port=port if port is not None else settings.get_int("ENERGY_API_PORT"),
            auth=AuthPolicy.build(settings.get("ENERGY_API_AUTH"), host, settings.get("ENERGY_API_TOKENS")),
            cors_origins=settings.get_list("ENERGY_API_CORS_ORIGINS"),
            topic_allow=compile_allow_list(settings.get("ENERGY_API_WS_TOPIC_ALLOW")),
            queue_size=queue_size,
            stale_after_seconds=settings.get_float("ENERGY_API_STALE_AFTER_SECONDS"),
            consumer_group=settings.get("ENERGY_API_CONSUMER_GROUP"),
            live_datasets=settings.get_list("ENERGY_LIVE_DATASETS"),
        )
