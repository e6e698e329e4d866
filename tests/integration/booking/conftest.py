"""Booking stores on SQLite and PostgreSQL, events to record, and a reader for topics."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.booking import domain
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from services.shared.events import Booking, BookingEvent, BookingEventType, Patient

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
MakeEvent = Callable[..., BookingEvent]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(database_url: str) -> Iterator[BookingStore]:
    store = BookingStore(database_url)
    yield store
    store.close()


@pytest.fixture
def created() -> MakeEvent:
    """A ``booking.created`` event for one booking of one patient."""

    def make(
        booking_id: str = "bk-1", patient_id: str = "p-1", clinic_id: str = "dr-jenny"
    ) -> BookingEvent:
        booking = Booking(
            clinic_id=clinic_id,
            booking_id=booking_id,
            patient=Patient(id=patient_id, first_name="Jane"),
            treatment="microsclerotherapy",
            kind="treatment",
            start=NOW + timedelta(days=30),
            booked_at=NOW,
        )
        return domain.event_for(booking, BookingEventType.CREATED, NOW, "test")

    return make


def read_topic(
    bootstrap: str, topic: str, count: int, timeout: float = 20.0
) -> list[tuple[int, bytes, bytes]]:
    """The first ``count`` records of ``topic`` as (partition, key, value), in partition order."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    consumer.assign([TopicPartition(topic, p) for p in range(4)])
    seen: list[tuple[int, bytes, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(seen) < count and time.monotonic() < deadline:
            for part, records in consumer.poll(timeout_ms=200).items():
                seen.extend((part.partition, r.key, r.value) for r in records)
    finally:
        consumer.close()
    assert len(seen) >= count, f"saw {len(seen)} of {count} records on {topic}"
    return seen
