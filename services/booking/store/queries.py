"""The booking store's read side, for tools that look without changing (the ops console,
``clinic-reminders status``): queries on a connection the caller opens, so that a
reader needs none of the store's own start-up (which creates tables)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from services.booking.store.tables import booking_events, bookings, outbox
from services.shared.events import Booking, BookingEvent


@dataclass(frozen=True)
class StoredBooking:
    """A booking's snapshot at one clinic and its events, oldest first."""

    booking: Booking
    events: list[BookingEvent]


def outbox_backlog(conn: Connection) -> int:
    """Outbox rows not yet published."""
    query = select(func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
    return int(conn.execute(query).scalar_one())


def stored_bookings(conn: Connection, booking_id: str) -> list[StoredBooking]:
    """``booking_id`` at every clinic that has it, with its history."""
    found = select(bookings.c.clinic_id, bookings.c.snapshot).where(
        bookings.c.booking_id == booking_id
    )
    history = (
        select(booking_events.c.clinic_id, booking_events.c.payload)
        .where(booking_events.c.booking_id == booking_id)
        .order_by(booking_events.c.id)
    )
    snapshots = {r.clinic_id: r.snapshot for r in conn.execute(found.order_by("clinic_id"))}
    events = list(conn.execute(history))
    return [
        StoredBooking(
            Booking.model_validate_json(snapshot),
            [BookingEvent.model_validate_json(e.payload) for e in events if e.clinic_id == clinic],
        )
        for clinic, snapshot in snapshots.items()
    ]
