"""Kafka settings: SASL/TLS passed through from the environment, secrets never in logs."""

from energy_orchestration.streaming.config import consumer_config, producer_config, redacted


def test_security_settings_pass_through_and_the_password_is_redacted(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "platform")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret-value")
    config = consumer_config("kafka-1:9093", "landing")
    assert config["security.protocol"] == "SASL_SSL" and config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.password"] == "s3cret-value"
    assert "s3cret-value" not in str(redacted(config))
    assert redacted(config)["sasl.username"] == "platform"


def test_producers_are_idempotent_with_bounded_timeouts_and_consumers_commit_by_hand():
    producer = producer_config("localhost:9092")
    assert producer["enable.idempotence"] is True and producer["acks"] == "all"
    assert 0 < producer["message.timeout.ms"] <= 60_000
    consumer = consumer_config("localhost:9092", "g")
    assert consumer["enable.auto.commit"] is False and consumer["auto.offset.reset"] == "earliest"
    assert consumer["group.protocol"] == "classic"
