"""Real end offsets on a broker that reports them short.

The embedded broker (Tansu) reports a partition's end offset as its last
batch's base offset + 1: short by the records in that batch less one. Reading
the last batch from the reported end - 1 shows where the partition really ends.
On Apache Kafka the reported end is already right and reading it changes nothing.
"""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from services.shared.kafka_access import KafkaAccess, access_of


def true_ends(
    consumer: KafkaConsumer, reported: dict[TopicPartition, int], timeout: float = 3.0
) -> dict[TopicPartition, int]:
    """The real end offsets, found by reading the last batch from each reported end - 1.

    Blocks up to ``timeout`` seconds; a partition not read by then keeps its
    reported end. Nothing is committed (the consumer must have no group), and
    the consumer is left with no assignment.
    """
    ends = dict(reported)
    pending = {tp for tp, end in reported.items() if end > 0}
    if not pending:
        return ends
    consumer.assign(list(pending))
    for tp in pending:
        consumer.seek(tp, reported[tp] - 1)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=200).items():
            ends[tp] = max(ends[tp], records[-1].offset + 1)
            pending.discard(tp)
    consumer.assign([])
    return ends


def read_true_ends(
    kafka: KafkaAccess | str, reported: dict[TopicPartition, int], timeout: float = 3.0
) -> dict[TopicPartition, int]:
    """:func:`true_ends` with a consumer of its own, opened and closed here."""
    consumer = KafkaConsumer(
        **access_of(kafka).client_options(), enable_auto_commit=False, client_id="clinic-true-ends"
    )
    try:
        return true_ends(consumer, reported, timeout)
    finally:
        consumer.close()


def partition_bounds(
    kafka: KafkaAccess | str, topic: str, timeout: float = 5.0
) -> dict[int, tuple[int, int]]:
    """Each partition of ``topic``: its first offset still kept and its real end offset.

    Raises ``LookupError`` when the broker does not know the topic.
    """
    consumer = KafkaConsumer(
        **access_of(kafka).client_options(),
        enable_auto_commit=False,
        client_id="clinic-true-ends",
        request_timeout_ms=int(timeout * 1000) + 1000,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise LookupError(f"the broker does not know the topic {topic}")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        firsts = consumer.beginning_offsets(tps)
        ends = true_ends(consumer, consumer.end_offsets(tps), timeout)
        return {tp.partition: (firsts[tp], ends[tp]) for tp in tps}
    finally:
        consumer.close()


def topic_ends(kafka: KafkaAccess | str, topic: str, timeout: float = 5.0) -> dict[int, int]:
    """Each partition of ``topic``: its real end offset (see :func:`partition_bounds`)."""
    return {p: end for p, (_, end) in partition_bounds(kafka, topic, timeout).items()}
