"""WebSocket fan-out without a network: allow-list, per-client zone filter, drop-oldest queues."""

import asyncio
import json

import pytest

from energy_orchestration.serving.push import PushHub, compile_allow_list, topic_allowed


def message(topic: str, zone: str, n: int = 0) -> dict:
    return {"type": "observation", "topic": topic, "zone": zone, "n": n}


def test_allow_list_is_a_full_match_regex():
    allow = compile_allow_list(r"energy\.raw\.eco2mix-.*")
    assert topic_allowed(allow, "energy.raw.eco2mix-regional-tr")
    assert not topic_allowed(allow, "energy.raw.powersystemrightnow")
    assert not topic_allowed(allow, "x.energy.raw.eco2mix-regional-tr")
    assert topic_allowed(compile_allow_list(".*"), "anything")
    with pytest.raises(ValueError, match="ENERGY_API_WS_TOPIC_ALLOW"):
        compile_allow_list("(")


def test_a_slow_client_loses_its_oldest_messages_and_nobody_else_waits():
    async def scenario() -> None:
        hub = PushHub(compile_allow_list(r".*\.raw\.a"), queue_size=3)
        slow, fast, dk = hub.connect(), hub.connect(), hub.connect(zone="DK")
        for n in range(5):
            hub.publish([message("e.raw.a", "FR", n), message("e.raw.b", "FR", n)])
            assert json.loads(fast.queue.get_nowait())["n"] == n   # the fast client keeps up
        assert [json.loads(slow.queue.get_nowait())["n"] for _ in range(3)] == [2, 3, 4]
        assert slow.dropped == 2 and hub.dropped == 2 and fast.dropped == 0
        assert dk.queue.empty()                                   # other zone: not for this client
        hub.disconnect(slow)
        hub.publish([message("e.raw.a", "DK", 9)])
        assert slow.queue.empty() and json.loads(dk.queue.get_nowait())["n"] == 9

    asyncio.run(scenario())
