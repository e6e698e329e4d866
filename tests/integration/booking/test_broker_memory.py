"""The booking service notices a broker that forgot its bookings, or a worker asking again."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from kafka import KafkaProducer

from services.booking.publishing.broker_memory import BrokerMemory
from services.booking.store.store import BookingStore
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock
from services.shared.control import RESYNC_REQUEST, ResyncRequested, read_control, write_control
from services.shared.events import BookingEvent, BookingEventType
from services.shared.topics import Topics
from tests.unit.reminders.factories import booking, event

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers]

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def stored(database_url: str, topics: Topics, count: int) -> BookingStore:
    store = BookingStore(database_url)
    for n in range(count):
        made = booking(f"bk-m{n}", f"p-m{n}", start=NOW + timedelta(days=9), booked_at=NOW)
        store.insert(event(made), topics.bookings, fingerprint=made.booking_id)
    store.outbox.mark_published([r.id for r in store.outbox.pending()], NOW)
    return store


@pytest.fixture
def producer(broker: EmbeddedBroker) -> Iterator[KafkaProducer]:
    made = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    yield made
    made.close()


def checking(store: BookingStore, broker: EmbeddedBroker, topics: Topics) -> BrokerMemory:
    """The relay's check, looking at every call (no pause between looks)."""
    return BrokerMemory(store, broker.bootstrap, topics, ManualClock(NOW), every_seconds=0)


def test_a_broker_without_the_marker_gets_every_booking_again_once(
    broker: EmbeddedBroker, topics: Topics, database_url: str, producer: KafkaProducer
) -> None:
    store = stored(database_url, topics, 3)
    memory = checking(store, broker, topics)
    assert memory.check(producer) == 3
    queued = [BookingEvent.model_validate_json(r.payload) for r in store.outbox.pending()]
    assert [e.type for e in queued] == [BookingEventType.RESYNCED] * 3
    assert read_control(broker.bootstrap, topics.control).remembers(store.outbox.store_id())
    assert memory.check(producer) is None  # remembered now: nothing more


def test_a_worker_s_request_is_answered_with_a_resync_and_a_done_record(
    broker: EmbeddedBroker, topics: Topics, database_url: str, producer: KafkaProducer
) -> None:
    store = stored(database_url, topics, 2)
    memory = checking(store, broker, topics)
    memory.check(producer)
    request = ResyncRequested(requested_by="reminders worker 2", reason="r", requested_at=NOW)
    write_control(producer, topics.control, RESYNC_REQUEST, request)
    assert memory.check(producer) == 2
    state = read_control(broker.bootstrap, topics.control)
    assert state.open_request() is None
    assert state.done is not None and state.done.request_id == request.request_id
    assert memory.check(producer) is None
    assert len(store.outbox.pending()) == 4
