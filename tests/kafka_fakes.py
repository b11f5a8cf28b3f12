"""A consumed Kafka message as confluent-kafka hands it over, for tests that feed the consumer's
or the feeder's batch functions without a broker (only what they read of a message)."""

PSRN_TOPIC = "energy.raw.powersystemrightnow"


class Message:
    def __init__(self, value: bytes, offset: int, partition: int = 0, topic: str = PSRN_TOPIC) -> None:
        self._value, self._offset, self._partition, self._topic = value, offset, partition, topic

    def topic(self): return self._topic
    def partition(self): return self._partition
    def offset(self): return self._offset
    def key(self): return b"DK"
    def value(self): return self._value
    def error(self): return None
