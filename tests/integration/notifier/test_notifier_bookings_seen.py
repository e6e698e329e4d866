"""The notifier's record of bookings, on SQLite and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, Table, insert

from services.notifier.bookings.seen import BookingsSeen, positions
from services.notifier.bookings.seen import seen as seen_table
from services.shared.database import make_engine
from services.shared.events import BookingEvent, BookingEventType, BookingStatus
from tests.unit.reminders.factories import booking

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers]
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def change(kind: BookingEventType, at: datetime, **fields: object) -> BookingEvent:
    made = booking("bk-1", "p-1", **fields)
    return BookingEvent(type=kind, occurred_at=at, clinic_id=made.clinic_id, data=made)


def test_the_latest_change_wins_even_when_the_topic_is_read_again(database_url: str) -> None:
    seen = BookingsSeen(database_url)
    try:
        booked = change(BookingEventType.CREATED, NOW)
        cancelled = change(
            BookingEventType.CANCELLED, NOW + timedelta(hours=1), status=BookingStatus.CANCELLED
        )
        seen.record([booked, cancelled], {("t", 0): 2})
        seen.record([booked], {("t", 0): 1})  # read again from the start: an older event
        latest = seen.latest("dr-jenny", "bk-1")
        assert latest is not None and latest.status is BookingStatus.CANCELLED
        assert seen.offsets("t") == {0: 1}
        assert seen.latest("dr-jenny", "bk-2") is None
    finally:
        seen.close()


def test_a_dropped_connection_is_replaced(database_url: str) -> None:
    seen = BookingsSeen(database_url)
    try:
        seen.record([change(BookingEventType.CREATED, NOW)], {})
        assert seen.latest("dr-jenny", "bk-1") is not None
        seen._reader().invalidate()  # what a database restart does to a kept connection
        assert seen.latest("dr-jenny", "bk-1") is not None
    finally:
        seen.close()


def test_a_reply_is_linked_to_the_patients_next_booking_by_phone(database_url: str) -> None:
    seen = BookingsSeen(database_url)
    try:
        past = change(BookingEventType.CREATED, NOW, start=NOW - timedelta(days=30))
        later = change(BookingEventType.CREATED, NOW, start=NOW + timedelta(days=40))
        sooner = change(BookingEventType.CREATED, NOW, start=NOW + timedelta(days=10))
        events = [
            e.model_copy(update={"data": e.data.model_copy(update={"booking_id": b})})
            for e, b in ((past, "bk-old"), (later, "bk-later"), (sooner, "bk-next"))
        ]
        seen.record(events, {})
        phone = "+447700900123"
        found = seen.for_phone("dr-jenny", phone, NOW)
        assert found is not None
        assert (found.booking_id, found.patient_id, found.locale) == ("bk-next", "p-1", "en-GB")
        assert found.status is BookingStatus.BOOKED
        assert seen.for_phone(None, phone, NOW) == found
        assert seen.for_phone("leeds-vein", phone, NOW) is None
        elsewhere = later.model_copy(
            update={"clinic_id": "leeds-vein", "data": later.data.model_copy(
                update={"clinic_id": "leeds-vein", "booking_id": "bk-leeds"})}
        )  # fmt: skip
        seen.record([elsewhere], {})  # another clinic booked the same phone
        assert seen.for_phone(None, phone, NOW) is None, "no clinic may take another's replies"
        assert seen.for_phone("dr-jenny", phone, NOW) == found
        assert seen.for_phone("dr-jenny", "+447700900999", NOW) is None
        after = seen.for_phone("dr-jenny", phone, NOW + timedelta(days=50))
        assert after is not None and after.booking_id == "bk-later"  # none to come: the latest
        confirmed = events[2].model_copy(
            update={"type": BookingEventType.CONFIRMED, "occurred_at": NOW + timedelta(hours=1)}
        )
        seen.record([confirmed], {})
        latest = seen.latest("dr-jenny", "bk-next")
        assert latest is not None and latest.status is BookingStatus.BOOKED
        assert latest.schedule_version == 1
    finally:
        seen.close()


def test_a_store_from_before_phones_gains_them_and_reads_the_topic_again(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    old = MetaData()
    Table(
        seen_table.name,
        old,
        *[Column(c.name, c.type, primary_key=c.primary_key) for c in seen_table.columns][:6],
    )
    positions.to_metadata(old)
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(positions).values(topic="t", partition=0, next_offset=7))
    engine.dispose()
    seen = BookingsSeen(database_url)
    try:
        assert seen.offsets("t") == {}
        seen.record([change(BookingEventType.CREATED, NOW)], {("t", 0): 1})
        found = seen.for_phone("dr-jenny", "+447700900123", NOW)
        assert found is not None and found.booking_id == "bk-1"
    finally:
        seen.close()
    BookingsSeen(database_url).close()  # and a second start changes nothing
