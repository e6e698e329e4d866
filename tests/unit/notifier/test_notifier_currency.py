"""Which changes to a booking make a reminder planned from it moot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.bookings.currency import SeenBooking, moot_reason
from services.shared.events import BookingStatus
from tests.support.reminders import reminder

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
CHANGED = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def seen(status: BookingStatus = BookingStatus.BOOKED, version: int = 1) -> SeenBooking:
    return SeenBooking(version, status, START + timedelta(days=7 * (version - 1)), CHANGED)


@pytest.mark.parametrize(
    ("latest", "reason"),
    [
        (None, None),
        (seen(), None),
        (seen(BookingStatus.CANCELLED), "booking cancelled at 2026-11-30T12:00:00+00:00"),
        (seen(BookingStatus.NO_SHOW), "booking marked no-show at 2026-11-30T12:00:00+00:00"),
        (
            seen(version=2),
            "booking moved to 2026-12-08T10:00:00+00:00 at 2026-11-30T12:00:00+00:00",
        ),
        (
            seen(BookingStatus.ATTENDED),
            "booking marked attended at 2026-11-30T12:00:00+00:00: the appointment is over",
        ),
    ],
    ids=["unseen", "unchanged", "cancelled", "no-show", "moved", "attended"],
)
def test_a_pre_appointment_reminder(latest: SeenBooking | None, reason: str | None) -> None:
    assert moot_reason(reminder(), latest) == reason


def test_aftercare_stays_current_when_the_booking_is_marked_attended() -> None:
    aftercare = reminder(due_at=START + timedelta(days=2), milestone="aftercare-stockings")
    assert moot_reason(aftercare, seen(BookingStatus.ATTENDED)) is None
    assert moot_reason(aftercare, seen(BookingStatus.NO_SHOW)) is not None


def test_a_reminder_planned_for_the_new_version_or_status_is_current() -> None:
    assert moot_reason(reminder(schedule_version=2), seen(version=2)) is None
    rebook = reminder(booking_status=BookingStatus.NO_SHOW, due_at=START + timedelta(days=1))
    assert moot_reason(rebook, seen(BookingStatus.NO_SHOW)) is None


def test_a_due_record_from_before_these_fields_is_judged_on_a_cancel_only() -> None:
    older = reminder(schedule_version=None, booking_status=None)
    assert moot_reason(older, seen(version=2)) is None
    assert moot_reason(older, seen(BookingStatus.NO_SHOW)) is None
    assert moot_reason(older, seen(BookingStatus.CANCELLED)) == (
        "booking cancelled at 2026-11-30T12:00:00+00:00"
    )
