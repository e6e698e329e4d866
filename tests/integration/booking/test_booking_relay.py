"""The outbox relay against the real broker: published in order, nothing lost while it is down."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.booking import domain
from services.booking.http.api import create_app
from services.booking.publishing.relay import OutboxRelay, RelayUnavailable
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.clock import ManualClock
from services.shared.events import BookingEvent, decode
from services.shared.topics import Topics, ensure_topics
from tests.integration.booking.conftest import NOW, MakeEvent, read_topic
from tests.support.bookings import booking_request

GRACE = timedelta(minutes=15)
CANCEL = domain.StatusChange.CANCEL.change(NOW, "test", GRACE)


pytestmark = [pytest.mark.integration, pytest.mark.both_brokers]

BOOKING: dict[str, Any] = booking_request()


def test_a_posted_booking_reaches_the_bookings_topic(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path, clock: ManualClock
) -> None:
    store = BookingStore(f"sqlite:///{tmp_path}/booking.db")
    settings = BookingSettings(var_dir=tmp_path, topic_prefix=topics.prefix)
    client = TestClient(create_app(settings, store, clock))
    event_id = client.post("/v1/bookings", json=BOOKING).json()["event_id"]
    relay = OutboxRelay(store, broker.bootstrap, clock)

    assert relay.publish_pending() == 1
    relay.stop()

    [(_, key, value)] = read_topic(broker.bootstrap, topics.bookings, 1)
    event = decode(BookingEvent, value)
    assert key == b"dr-jenny:p-42"
    assert (event.event_id, event.type.value, event.schema_version) == (
        event_id,
        "booking.created",
        1,
    )
    assert (event.clinic_id, event.source, event.occurred_at) == ("dr-jenny", "api", NOW)
    assert event.data.booking_id == "bk-1001"
    assert store.outbox.backlog() == 0
    assert relay.publish_pending() == 0


def _changes(store: BookingStore, created: MakeEvent, topic: str) -> list[str]:
    """Two patients, each with a created, a rescheduled and a cancelled event."""
    for patient in ("p-1", "p-2"):
        booking_id = f"bk-{patient}"
        store.insert(created(booking_id=booking_id, patient_id=patient), topic, "fp")
        later = NOW + timedelta(days=45)
        store.update("dr-jenny", booking_id, domain.reschedule(later, NOW, "test"), topic)
        store.update("dr-jenny", booking_id, CANCEL, topic)
    return [r.event_id for r in store.outbox.pending()]


def test_events_wait_for_a_broker_then_arrive_in_order(
    store: BookingStore, created: MakeEvent, clock: ManualClock
) -> None:
    topics = Topics(prefix="outage.")
    expected = _changes(store, created, topics.bookings)
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    relay = OutboxRelay(
        store,
        bootstrap,
        clock,
        timeout_seconds=1.0,
        prepare=lambda: ensure_topics(bootstrap, topics.all(), 4, timeout=1.0),
    )

    with pytest.raises(RelayUnavailable):
        relay.publish_pending()
    assert store.outbox.backlog() == len(expected)

    with EmbeddedBroker(port=port) as broker:
        assert relay.publish_pending() == len(expected)
        relay.stop()
        records = read_topic(broker.bootstrap, topics.bookings, len(expected))

    assert store.outbox.backlog() == 0
    for patient in ("p-1", "p-2"):
        mine = [
            decode(BookingEvent, v) for _, k, v in records if k == f"dr-jenny:{patient}".encode()
        ]
        assert len({p for p, k, _ in records if k == f"dr-jenny:{patient}".encode()}) == 1
        assert [e.type.value for e in mine] == [
            "booking.created",
            "booking.rescheduled",
            "booking.cancelled",
        ]
    assert sorted(decode(BookingEvent, v).event_id for *_, v in records) == sorted(expected)


def test_the_relay_thread_publishes_once_the_broker_is_up(
    tmp_path: Path, created: MakeEvent, clock: ManualClock
) -> None:
    store = BookingStore(f"sqlite:///{tmp_path}/booking.db")
    topics = Topics(prefix="thread.")
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    relay = OutboxRelay(
        store,
        bootstrap,
        clock,
        poll_seconds=0.05,
        max_backoff_seconds=0.3,
        timeout_seconds=1.0,
        prepare=lambda: ensure_topics(bootstrap, topics.all(), 4, timeout=1.0),
    )
    relay.start()
    try:
        store.insert(created(), topics.bookings, "fp")
        time.sleep(0.5)
        assert store.outbox.backlog() == 1
        with EmbeddedBroker(port=port) as broker:
            _wait(lambda: store.outbox.backlog() == 0, 20)
            [(_, key, _)] = read_topic(broker.bootstrap, topics.bookings, 1)
            store.insert(created(booking_id="bk-2"), topics.bookings, "fp")
            relay.wake()
            _wait(lambda: store.outbox.backlog() == 0, 10)
    finally:
        relay.stop()
    assert key == b"dr-jenny:p-1"


def _wait(condition: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.05)
    assert condition(), "condition not met in time"  # type: ignore[operator]


def test_two_relays_on_one_postgresql_outbox_publish_each_row_once_and_hand_over(
    broker: EmbeddedBroker, topics: Topics, postgres_schema_url: str, clock: ManualClock
) -> None:
    url = postgres_schema_url
    store = BookingStore(url)
    settings = BookingSettings(topic_prefix=topics.prefix)
    client = TestClient(create_app(settings, store, clock))
    first = OutboxRelay(BookingStore(url), broker.bootstrap, clock)
    second = OutboxRelay(BookingStore(url), broker.bootstrap, clock)
    for n in range(3):
        assert (
            client.post("/v1/bookings", json={**BOOKING, "booking_id": f"bk-{n}"}).status_code
            == 201
        )
    assert first.publish_pending() == 3
    for n in range(3, 5):
        client.post("/v1/bookings", json={**BOOKING, "booking_id": f"bk-{n}"})
    assert second.publish_pending() == 0, (
        "the second relay must wait while the first holds the lease"
    )
    first.stop()
    assert second.publish_pending() == 2
    second.stop()
    ids = [
        decode(BookingEvent, value).data.booking_id
        for _, _, value in read_topic(broker.bootstrap, topics.bookings, 5)
    ]
    assert ids == [f"bk-{n}" for n in range(5)]
