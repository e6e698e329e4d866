"""Bookings and booking events for reminders tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.reminders.schedule.schedule import Scheduler, Tick
from services.shared.events import Booking, BookingEvent, BookingEventType, BookingStatus

START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
BOOKED_AT = START - timedelta(days=20)


def booking(booking_id: str = "bk-1001", patient_id: str = "p-42", **changes: Any) -> Booking:
    base = Booking.model_validate(
        {
            "clinic_id": "dr-jenny",
            "booking_id": booking_id,
            "patient": {
                "id": patient_id,
                "first_name": "Jane",
                "phone": "+447700900123",
                "email": "jane@example.com",
                "timezone": "Europe/London",
                "consent": {"sms": True, "email": True},
            },
            "treatment": "microsclerotherapy",
            "kind": "treatment",
            "session_number": 1,
            "sessions_planned": 3,
            "start": START,
            "booked_at": BOOKED_AT,
        }
    )
    return base.model_copy(update=changes)


def event(data: Booking, kind: BookingEventType = BookingEventType.CREATED) -> BookingEvent:
    return BookingEvent(
        type=kind, occurred_at=data.booked_at or BOOKED_AT, clinic_id=data.clinic_id, data=data
    )


def status(data: Booking, new: BookingStatus, kind: BookingEventType) -> BookingEvent:
    return event(data.model_copy(update={"status": new}), kind)


def fire(scheduler: Scheduler, partition: int, now: datetime) -> Tick:
    """One tick as the worker runs it once the due reminders are sent: found, then committed."""
    tick = scheduler.tick(partition, now)
    scheduler.commit(tick)
    return tick
