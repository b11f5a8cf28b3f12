"""Real Kafka behaviour is the default; the embedded broker's workarounds apply only to a
broker the platform started (streaming/config.py)."""

import logging

from energy_orchestration.streaming import config


def test_a_cluster_gets_real_kafka_behaviour(monkeypatch):
    monkeypatch.delenv("ENERGY_KAFKA_EMBEDDED", raising=False)
    assert not config.embedded_broker("kafka-1:9092")
    assert config.feeder_config("kafka-1:9092", "api")["auto.offset.reset"] == "latest"
    # landing a new group from what the topics retain is deliberate on any broker
    assert config.consumer_config("kafka-1:9092", "landing")["auto.offset.reset"] == "earliest"


def test_the_workarounds_apply_to_a_broker_started_here_or_by_the_demo(monkeypatch):
    monkeypatch.delenv("ENERGY_KAFKA_EMBEDDED", raising=False)
    monkeypatch.setattr(config, "_STARTED_HERE", set())
    config.register_embedded_broker("127.0.0.1:1234")
    assert config.embedded_broker("127.0.0.1:1234") and not config.embedded_broker("127.0.0.1:1235")
    assert config.feeder_config("127.0.0.1:1234", "api")["auto.offset.reset"] == "earliest"
    monkeypatch.setenv("ENERGY_KAFKA_EMBEDDED", "1")  # what `energy demo` gives its services
    assert config.feeder_replays_topics("127.0.0.1:1235")


def test_librdkafka_lines_are_rate_limited_per_kind_and_summarised():
    limit = config._RateLimitedLog(burst=3, period=60.0)

    def line(text: str) -> logging.LogRecord:
        return logging.LogRecord("energy_orchestration.kafka", logging.ERROR, __file__, 1, text, None, None)

    refused = "FAIL [c#consumer-1] [thrd:b]: Connect to ipv4#127.0.0.1:1 failed: Connection refused"
    passed = [limit.filter(line(refused)) for _ in range(500)]
    assert sum(passed) == 3
    assert limit.filter(line("THROTTLE [c#consumer-1]: something else"))  # another kind is not hidden
    limit._seen = {k: (start - 61, p, s) for k, (start, p, s) in limit._seen.items()}  # a minute later
    summary = line(refused)
    assert limit.filter(summary) and "497 similar lines suppressed" in summary.getMessage()
    assert "logger" not in config.redacted(config.client_config("kafka-1:9092"))
