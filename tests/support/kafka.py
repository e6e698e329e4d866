"""Reading and writing test topics with kafka-python, partitions assigned by hand."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.shared.kafka_access import KafkaAccess, access_of


def produce(kafka: KafkaAccess | str, topic: str, key: str | None, value: bytes) -> None:
    producer = KafkaProducer(**access_of(kafka).client_options(), acks="all")
    try:
        producer.send(topic, key=key.encode() if key else None, value=value)
        producer.flush()
    finally:
        producer.close()


def assigned_consumer(
    kafka: KafkaAccess | str,
    topic: str,
    group_id: str | None = None,
    partitions: int = 4,
    max_poll_records: int = 500,
) -> KafkaConsumer:
    """A consumer on every partition of ``topic`` from the start, without a group join."""
    consumer = KafkaConsumer(
        **access_of(kafka).client_options(),
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=max_poll_records,
    )
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    return consumer


class TopicReader:
    """Everything that arrives on one topic, read as the test goes."""

    def __init__(self, kafka: KafkaAccess | str, topic: str) -> None:
        self._consumer = assigned_consumer(kafka, topic)
        self.values: list[bytes] = []

    def wait_for(self, count: int, timeout: float = 20.0) -> list[bytes]:
        """Block until ``count`` records in all were read; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while len(self.values) < count and time.monotonic() < deadline:
            for records in self._consumer.poll(timeout_ms=200).values():
                self.values.extend(r.value for r in records)
        assert len(self.values) >= count, f"saw {len(self.values)} of {count} records"
        return self.values

    def close(self) -> None:
        self._consumer.close()
