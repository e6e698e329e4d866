"""The notifier's record of bookings, on SQLite and the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.bookings_seen import BookingsSeen
from services.shared.events import BookingEvent, BookingEventType, BookingStatus
from tests.unit.reminders.factories import booking

pytestmark = pytest.mark.integration
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
