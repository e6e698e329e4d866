"""The booking store on SQLite and the real PostgreSQL: snapshot, history and outbox together."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from services.booking import domain
from services.booking.errors import BookingNotFound, Conflict, TransitionNotAllowed
from services.booking.store.idempotency import IdempotencyKey
from services.booking.store.store import BookingStore
from services.shared.events import BookingStatus
from tests.integration.booking.conftest import NOW, MakeEvent

GRACE = timedelta(minutes=15)
CANCEL = domain.StatusChange.CANCEL.change(NOW, "test", GRACE)
ATTENDED = domain.StatusChange.ATTENDED.change(NOW, "test", GRACE)


pytestmark = pytest.mark.integration
TOPIC = "clinic.bookings.v1"


def test_a_new_booking_commits_with_its_history_and_outbox_row(
    store: BookingStore, created: MakeEvent
) -> None:
    event = created()

    recorded = store.insert(event, TOPIC, "fp")

    assert not recorded.replayed
    assert store.get("dr-jenny", "bk-1") == event.data
    assert store.history("dr-jenny", "bk-1") == [event]
    [row] = store.outbox.pending()
    assert (row.event_id, row.key, row.topic) == (event.event_id, "dr-jenny:p-1", TOPIC)
    assert row.payload == event.model_dump_json().encode()


def test_without_its_outbox_row_a_booking_is_not_stored(
    store: BookingStore, created: MakeEvent
) -> None:
    with store._engine.begin() as conn:
        conn.execute(text("DROP TABLE outbox"))

    with pytest.raises(Exception, match="outbox"):
        store.insert(created(), TOPIC, "fp")

    assert store.get("dr-jenny", "bk-1") is None
    assert store.history("dr-jenny", "bk-1") == []


def test_a_refused_change_writes_nothing(store: BookingStore, created: MakeEvent) -> None:
    store.insert(created(), TOPIC, "fp")
    store.update("dr-jenny", "bk-1", CANCEL, TOPIC)

    with pytest.raises(TransitionNotAllowed):
        store.update("dr-jenny", "bk-1", ATTENDED, TOPIC)

    assert store.get("dr-jenny", "bk-1").status is BookingStatus.CANCELLED  # type: ignore[union-attr]
    assert store.outbox.backlog() == 2


def test_each_change_is_appended_in_order(store: BookingStore, created: MakeEvent) -> None:
    store.insert(created(), TOPIC, "fp")
    later = NOW + timedelta(days=40)
    store.update("dr-jenny", "bk-1", domain.reschedule(later, NOW, "test"), TOPIC)
    store.update("dr-jenny", "bk-1", CANCEL, TOPIC)

    history = store.history("dr-jenny", "bk-1")
    assert [e.type.value for e in history] == [
        "booking.created",
        "booking.rescheduled",
        "booking.cancelled",
    ]
    assert [e.data.schedule_version for e in history] == [1, 2, 2]
    assert [r.event_id for r in store.outbox.pending()] == [e.event_id for e in history]


def test_changing_an_unknown_booking_is_not_found(store: BookingStore) -> None:
    with pytest.raises(BookingNotFound):
        store.update("dr-jenny", "nope", CANCEL, TOPIC)


def test_a_repeat_replays_and_a_different_repeat_conflicts(
    store: BookingStore, created: MakeEvent
) -> None:
    first = store.insert(created(), TOPIC, "fp-1")

    again = store.insert(created(), TOPIC, "fp-1")
    with pytest.raises(Conflict):
        store.insert(created(), TOPIC, "fp-2")

    assert again.replayed and again.event == first.event
    assert store.outbox.backlog() == 1


def test_an_idempotency_key_returns_the_first_change(
    store: BookingStore, created: MakeEvent
) -> None:
    store.insert(created(), TOPIC, "fp")
    key = IdempotencyKey("k-1", "cancel bk-1")
    first = store.update("dr-jenny", "bk-1", CANCEL, TOPIC, key)

    again = store.update("dr-jenny", "bk-1", CANCEL, TOPIC, key)
    with pytest.raises(Conflict, match="k-1"):
        store.update(
            "dr-jenny",
            "bk-1",
            CANCEL,
            TOPIC,
            IdempotencyKey("k-1", "something else"),
        )

    assert again.replayed and again.event == first.event
    assert store.outbox.backlog() == 2


def test_bookings_are_listed_per_clinic_in_order(store: BookingStore, created: MakeEvent) -> None:
    for clinic, booking in [("b", "2"), ("a", "9"), ("b", "1"), ("a", "10")]:
        store.insert(created(booking_id=booking, clinic_id=clinic), TOPIC, "fp")

    everything = [(b.clinic_id, b.booking_id) for b in store.iter_bookings()]
    only_b = [b.booking_id for b in store.iter_bookings("b")]

    assert everything == [("a", "10"), ("a", "9"), ("b", "1"), ("b", "2")]
    assert only_b == ["1", "2"]
    assert store.clinics_of("2") == ["b"]


def test_published_rows_leave_the_backlog(store: BookingStore, created: MakeEvent) -> None:
    for n in range(3):
        store.insert(created(booking_id=f"bk-{n}"), TOPIC, "fp")
    first, *rest = store.outbox.pending()

    store.outbox.mark_published([first.id], NOW)

    assert store.outbox.backlog() == 2
    assert [r.id for r in store.outbox.pending()] == [r.id for r in rest]
    assert [r.id for r in store.outbox.pending(limit=1)] == [rest[0].id]
