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
