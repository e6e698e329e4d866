"""Erasures as the ops tools read them: the audit records on ``clinic.erasures.v1``.

Views hide what names an erased patient (dead letters, see :mod:`dlq`): the
booking service's record of each erasure says which clinic, a keyed hash of the
patient, and when. Each other service adds its own record once it has erased
what it keeps; :func:`wait_for_records` is how ``clinic-reminders patient erase``
reports them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from kafka import TopicPartition

from services.ops.kafka_io import TopicNotFound, open_reader, partitions_of, read_all
from services.shared.erasure import ErasedPatients, ErasureKeys, ErasureRecord
from services.shared.events import InvalidEvent, decode
from services.shared.kafka_access import KafkaAccess

BOOKING = "booking"


def erasure_records(kafka: KafkaAccess | str, topic: str) -> list[ErasureRecord]:
    """Every erasure record now on ``topic``, oldest first; none when there is no such topic.

    Blocks while reading it to its end; raises ``BrokerUnavailable``.
    """
    try:
        records = read_all(kafka, topic)
    except TopicNotFound:
        return []
    return sorted(_decoded(r.value for r in records), key=lambda r: r.recorded_at)


def erased_patients(kafka: KafkaAccess | str, topic: str, keys: ErasureKeys) -> ErasedPatients:
    """The patients erased so far, as the booking service's records say."""
    return ErasedPatients(
        keys,
        (
            (r.clinic_id, r.patient_hash, r.erased_at)
            for r in erasure_records(kafka, topic)
            if r.service == BOOKING
        ),
    )


def wait_for_records(
    kafka: KafkaAccess | str, topic: str, erasure_id: str, services: Iterable[str], timeout: float
) -> list[ErasureRecord]:
    """The records of ``erasure_id`` from ``services``, as they arrive, for up to ``timeout`` s.

    Returns what arrived by then (maybe not all); raises ``BrokerUnavailable``.
    """
    wanted = set(services)
    found: dict[str, ErasureRecord] = {}
    consumer = open_reader(kafka, client_id="clinic-ops-erasures")
    try:
        parts: list[TopicPartition] = partitions_of(consumer, topic)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        deadline = time.monotonic() + timeout
        while not wanted <= found.keys() and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                for record in _decoded(r.value for r in batch):
                    if record.erasure_id == erasure_id and record.service in wanted:
                        found.setdefault(record.service, record)
    finally:
        consumer.close()
    return sorted(found.values(), key=lambda r: r.recorded_at)


def _decoded(values: Iterable[bytes | None]) -> list[ErasureRecord]:
    out = []
    for value in values:
        try:
            out.append(decode(ErasureRecord, value or b""))
        except InvalidEvent:
            continue
    return out
