"""Is a due reminder still current? Decided right before it is handed to a provider.

A reminder leaves the worker when it falls due, but the notifier may hold it
for a while (quiet hours, a backlog, a provider asking to retry later). The
booking can change meanwhile. The notifier follows the booking events into its
own store (:mod:`bookings_seen`); this compares what a reminder was planned
from (its booking's schedule version and status) with the booking's latest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.shared.events import BookingStatus, ReminderDue


@dataclass(frozen=True)
class SeenBooking:
    """The latest the notifier has seen of one booking."""

    schedule_version: int
    status: BookingStatus
    start: datetime
    changed_at: datetime


def moot_reason(reminder: ReminderDue, latest: SeenBooking | None) -> str | None:
    """Why ``reminder`` no longer applies to its booking's latest state, or None if it does.

    A booking the notifier has not seen (yet) is taken as the reminder says.
    """
    if latest is None:
        return None
    when = latest.changed_at.isoformat()
    if reminder.schedule_version is None or reminder.booking_status is None:
        # A due record from before these fields: only a cancel is beyond doubt.
        cancelled = latest.status is BookingStatus.CANCELLED
        return f"booking cancelled at {when}" if cancelled else None
    if latest.schedule_version > reminder.schedule_version:
        return f"booking moved to {latest.start.isoformat()} at {when}"
    if latest.status is reminder.booking_status:
        return None
    if latest.status is BookingStatus.CANCELLED:
        return f"booking cancelled at {when}"
    if latest.status is BookingStatus.NO_SHOW:
        return f"booking marked no-show at {when}"
    if latest.status is BookingStatus.ATTENDED and reminder.due_at < reminder.appointment_start:
        return f"booking marked attended at {when}: the appointment is over"
    return None
