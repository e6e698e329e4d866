"""Whether a worker that discarded local plans needs to ask for a resync.

It does not when the booking service's latest resync (its marker or its answer
to a request, :mod:`services.shared.control`) put every booking's snapshot on
the bookings topic at or after where this worker will read it from: its
consumer group's committed offset, or the first offset kept when it has none
(a broker that forgot everything forgot those too). That is the embedded broker
at every restart of ``make run``: the booking service, finding its marker gone,
has already queued every booking, and a request would rebuild every plan twice.

Blocking: it reads the control topic, the bookings topic's offsets and the
group's committed offsets (kafka-python), so the worker runs it in a thread.
"""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaConsumer, TopicPartition

from services.shared.control import read_control
from services.shared.kafka_access import KafkaAccess, access_of
from services.shared.offsets import partition_bounds
from services.shared.topics import Topics


def covering_resync(
    kafka: KafkaAccess | str, group: str, topics: Topics, partitions: Iterable[int]
) -> str | None:
    """How the latest resync covers ``partitions`` (a line for the log), or None when the
    worker must ask: no resync says where it begins, or this worker reads from later."""
    state = read_control(kafka, topics.control)
    kept = partition_bounds(kafka, topics.bookings)
    committed = committed_offsets(kafka, group, topics.bookings, partitions)
    reads_from = {p: _start(at, kept.get(p, (0, 0))) for p, at in committed.items()}
    if not state.covers(reads_from, kept):
        return None
    latest = max(
        (r for r in (state.marker, state.done) if r is not None and r.bookings_from is not None),
        key=lambda r: r.when,
    )
    return (
        f"the booking store's resync of {latest.when:%Y-%m-%d %H:%M:%S}Z begins at bookings "
        f"offsets {latest.bookings_from}, and this worker reads from {reads_from}"
    )


def _start(committed: int | None, kept: tuple[int, int]) -> int:
    """Where the worker's consumer starts: its committed offset while the partition still
    holds it, else the first offset kept (``auto_offset_reset`` is earliest)."""
    first, end = kept
    return committed if committed is not None and first <= committed <= end else first


def committed_offsets(
    kafka: KafkaAccess | str, group: str, topic: str, partitions: Iterable[int]
) -> dict[int, int | None]:
    """The offset ``group`` committed on each of ``partitions`` of ``topic`` (None: none),
    read without joining the group."""
    consumer = KafkaConsumer(
        **access_of(kafka).client_options(),
        group_id=group,
        enable_auto_commit=False,
        client_id="clinic-resync-check",
    )
    try:
        return {p: consumer.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        consumer.close()
