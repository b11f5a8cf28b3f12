"""WebSocket fan-out: every client has its own bounded queue, so a slow one cannot stall the rest.

The feeder thread hands messages to the event loop (``publish_threadsafe``); the loop puts them
in each client's queue without waiting. When a client's queue is full its *oldest* message is
dropped (the client is behind anyway; the newest values matter most), counted, and logged.
Each message is serialised once for all clients.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger(__name__)


def compile_allow_list(pattern: str) -> re.Pattern[str]:
    """The topic allow-list; a bad regex fails at start-up with the setting's name."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"ENERGY_API_WS_TOPIC_ALLOW is not a valid regex ({exc}): {pattern!r}") from None


def topic_allowed(allow: re.Pattern[str], topic: str) -> bool:
    return allow.fullmatch(topic) is not None


@dataclass(eq=False)
class PushClient:
    queue: asyncio.Queue[str]
    zone: str | None = None
    dropped: int = 0

    def wants(self, message: dict[str, Any]) -> bool:
        return self.zone is None or message.get("zone") == self.zone


@dataclass
class PushHub:
    allow: re.Pattern[str]
    queue_size: int = 1000
    clients: set[PushClient] = field(default_factory=set)
    dropped: int = 0
    delivered: int = 0
    loop: asyncio.AbstractEventLoop | None = None

    def allowed(self, message: dict[str, Any]) -> bool:
        return topic_allowed(self.allow, str(message.get("topic", "")))

    def connect(self, zone: str | None = None) -> PushClient:
        client = PushClient(asyncio.Queue(maxsize=self.queue_size), zone)
        self.clients.add(client)
        return client

    def disconnect(self, client: PushClient) -> None:
        self.clients.discard(client)

    def publish_threadsafe(self, messages: list[dict[str, Any]]) -> None:
        """Called from the feeder thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self.publish, messages)
        except RuntimeError:  # loop shutting down
            pass

    def publish(self, messages: list[dict[str, Any]]) -> None:
        """On the event loop: enqueue for every client, never waiting for one."""
        for message in messages:
            if not self.allowed(message):
                continue
            text: str | None = None
            for client in self.clients:
                if not client.wants(message):
                    continue
                if text is None:
                    text = orjson.dumps(message).decode()
                self.delivered += 1
                if not offer(client, text):
                    self.dropped += 1
                    if client.dropped in (1, 10, 100) or client.dropped % 1000 == 0:  # a decaying rate
                        log.warning("WebSocket client is slow: %d messages dropped so far (queue of %d)",
                                    client.dropped, self.queue_size)


def offer(client: PushClient, text: str) -> bool:
    """Put without waiting; on a full queue drop the oldest message. True if nothing was dropped."""
    try:
        client.queue.put_nowait(text)
        return True
    except asyncio.QueueFull:
        client.queue.get_nowait()
        client.queue.put_nowait(text)
        client.dropped += 1
        return False
