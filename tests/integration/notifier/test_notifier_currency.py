"""A reminder the notifier holds is not sent once its booking has changed meanwhile.

The reminder left the worker before the change (here: held by the notifier for
the patient's quiet hours); the notifier learns of the change from the booking
events it follows, and records the reminder as skipped with the reason.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.notifier.settings import NotifierSettings
from services.shared.clock import ManualClock
from services.shared.events import (
    BookingEvent,
    BookingEventType,
    BookingStatus,
    Channel,
    DeliveryState,
    NotificationStatus,
    decode,
    encode,
)
from tests.support.kafka import TopicReader, produce
from tests.support.notifier_loop import NOW, sms_lines
from tests.support.reminders import patient, reminder
from tests.unit.reminders.factories import booking

pytestmark = pytest.mark.integration

NIGHT = patient(id="p-nz", timezone="Pacific/Auckland")  # 23:00 there at NOW


def booking_event(kind: BookingEventType, **changes: object) -> BookingEvent:
    made = booking("bk-1001", "p-nz", patient=NIGHT, **changes)
    return BookingEvent(type=kind, occurred_at=NOW, clinic_id=made.clinic_id, data=made)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            booking_event(BookingEventType.CANCELLED, status=BookingStatus.CANCELLED),
            f"booking cancelled at {NOW.isoformat()}",
        ),
        (
            booking_event(BookingEventType.RESCHEDULED, schedule_version=2),
            "booking moved to 2026-12-01T10:00:00+00:00",
        ),
    ],
    ids=["cancelled", "moved"],
)
def test_a_reminder_held_for_quiet_hours_is_skipped_after_its_booking_changed(
    settings: NotifierSettings,
    running: ManualClock,
    statuses: TopicReader,
    change: BookingEvent,
    reason: str,
) -> None:
    due = reminder(channels=(Channel.SMS,), patient=NIGHT)
    produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
    with pytest.raises(AssertionError):
        statuses.wait_for(1, timeout=1.5)  # held: night in Auckland
    produce(settings.bootstrap_servers, settings.topics.bookings, change.key, encode(change))
    running.advance(timedelta(hours=9, minutes=1))

    [raw] = statuses.wait_for(1)
    status = decode(NotificationStatus, raw)
    assert status.state is DeliveryState.SKIPPED
    assert str(status.reason).startswith(reason), status.reason
    assert sms_lines(settings) == []


def test_a_booking_change_the_reminder_was_planned_from_does_not_stop_it(
    settings: NotifierSettings, running: ManualClock, statuses: TopicReader
) -> None:
    moved = booking_event(BookingEventType.RESCHEDULED, schedule_version=2)
    produce(settings.bootstrap_servers, settings.topics.bookings, moved.key, encode(moved))
    due = reminder(channels=(Channel.SMS,), schedule_version=2)
    produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
    [raw] = statuses.wait_for(1)
    assert decode(NotificationStatus, raw).state is DeliveryState.SENT
