"""Reading and writing topics from outside the services, with kafka-python.

Reads assign partitions by hand (no consumer group, nothing committed), so
watching a topic never moves any service's offsets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError

from services.ops.records import Record
from services.shared.kafka_access import KafkaAccess, access_of


class TopicNotFound(LookupError):
    """The broker does not know the topic; the message names it."""


class BrokerUnavailable(RuntimeError):
    """No broker answered at the configured address; the message names it."""


def open_reader(kafka: KafkaAccess | str, client_id: str = "clinic-ops") -> KafkaConsumer:
    """A consumer outside any group; ``BrokerUnavailable`` if nothing answers."""
    try:
        return KafkaConsumer(
            **access_of(kafka).client_options(),
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            request_timeout_ms=5000,
            bootstrap_timeout_ms=3000,
        )
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(
            f"no Kafka broker answered at {access_of(kafka).bootstrap}: {exc}"
        ) from exc


def open_writer(kafka: KafkaAccess | str) -> KafkaProducer:
    """A producer waiting for every replica; ``BrokerUnavailable`` if nothing answers."""
    try:
        return KafkaProducer(
            **access_of(kafka).client_options(),
            client_id="clinic-ops",
            acks="all",
            bootstrap_timeout_ms=3000,
        )
    except (KafkaError, OSError) as exc:
        raise BrokerUnavailable(
            f"no Kafka broker answered at {access_of(kafka).bootstrap}: {exc}"
        ) from exc


def partitions_of(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``; ``TopicNotFound`` when the broker has no such topic."""
    found = consumer.partitions_for_topic(topic)
    if not found:
        raise TopicNotFound(f"no topic {topic!r} on the broker")
    return [TopicPartition(topic, p) for p in sorted(found)]


def read(
    consumer: KafkaConsumer,
    topic: str,
    *,
    from_beginning: bool,
    idle_seconds: float | None = None,
) -> Iterator[Record]:
    """Yield records of every partition of ``topic`` as they arrive.

    Blocks waiting for records; stops once ``idle_seconds`` pass without one
    (never, when None). Starts at the end unless ``from_beginning``.
    """
    parts = partitions_of(consumer, topic)
    consumer.assign(parts)
    if from_beginning:
        consumer.seek_to_beginning(*parts)
    else:
        consumer.seek_to_end(*parts)
    last = time.monotonic()
    while idle_seconds is None or time.monotonic() - last < idle_seconds:
        batch = consumer.poll(timeout_ms=200)
        for records in batch.values():
            last = time.monotonic()
            for r in records:
                yield _record(r)


def read_all(kafka: KafkaAccess | str, topic: str, timeout: float = 10.0) -> list[Record]:
    """Every record of ``topic`` up to its end offsets now, in partition then offset order.

    Blocks until every partition is read to its end, or ``timeout`` seconds pass.
    """
    consumer = open_reader(kafka)
    try:
        parts = partitions_of(consumer, topic)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends: dict[TopicPartition, int] = consumer.end_offsets(parts)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < end for tp, end in ends.items()):
            if time.monotonic() > deadline:
                break
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(_record(r) for r in batch)
    finally:
        consumer.close()
    return sorted(records, key=lambda r: (r.partition, r.offset))


def _record(r: Any) -> Record:
    return Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value)
