"""Read-only queries of the delivery ledger and the booking store for the page, and the
replies inbox (read, and a reply marked handled) through the notifier's own module.

Reads go through :func:`services.ops.stores.read_only`: a connection that cannot
write and that never creates a missing SQLite file. The booking store's own
class is not used here because it creates its tables and opens write
transactions when it starts; the rows are the same ones it writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from services.booking.tables import booking_events, bookings
from services.notifier import replies as inbox
from services.notifier.ledger import deliveries
from services.notifier.replies import InboxReply
from services.ops.stores import read_only, writable
from services.ops.web.shaping import LedgerRow
from services.shared.database import stored_utc
from services.shared.events import Booking, BookingEvent


@dataclass(frozen=True)
class StoredBooking:
    """A booking's snapshot at one clinic and its events, oldest first."""

    booking: Booking
    events: list[BookingEvent]


def ledger_since(url: str, since: datetime, limit: int = 50_000) -> list[LedgerRow]:
    """Ledger rows changed at or after ``since``; ``StoreUnavailable`` if unreadable."""
    query = select(deliveries).where(deliveries.c.updated_at >= since).limit(limit)
    return _ledger(url, query)


def ledger_for_booking(url: str, booking_id: str) -> list[LedgerRow]:
    """Every ledger row of ``booking_id``, oldest first; ``StoreUnavailable`` if unreadable."""
    query = (
        select(deliveries)
        .where(deliveries.c.booking_id == booking_id)
        .order_by(deliveries.c.created_at, deliveries.c.reminder_id, deliveries.c.channel)
    )
    return _ledger(url, query)


def _ledger(url: str, query: Select[Any]) -> list[LedgerRow]:
    with read_only(url) as conn:
        return [_row(r) for r in conn.execute(query).mappings()]


def _row(r: Any) -> LedgerRow:
    return LedgerRow(
        r["reminder_id"],
        r["channel"],
        r["clinic_id"],
        r["booking_id"],
        r["milestone"],
        r["state"],
        r["reason"],
        r["attempts"],
        stored_utc(r["created_at"]),
        stored_utc(r["updated_at"]),
    )


def stored_bookings(url: str, booking_id: str) -> list[StoredBooking]:
    """``booking_id`` at every clinic that has it, with its history; ``StoreUnavailable``."""
    found = select(bookings.c.clinic_id, bookings.c.snapshot).where(
        bookings.c.booking_id == booking_id
    )
    history = (
        select(booking_events.c.clinic_id, booking_events.c.payload)
        .where(booking_events.c.booking_id == booking_id)
        .order_by(booking_events.c.id)
    )
    with read_only(url) as conn:
        snapshots = {r.clinic_id: r.snapshot for r in conn.execute(found.order_by("clinic_id"))}
        events = list(conn.execute(history))
    return [
        StoredBooking(
            Booking.model_validate_json(snapshot),
            [BookingEvent.model_validate_json(e.payload) for e in events if e.clinic_id == clinic],
        )
        for clinic, snapshot in snapshots.items()
    ]


def replies(url: str, clinic_id: str | None, unread_only: bool) -> list[InboxReply]:
    """The replies inbox, newest first; ``StoreUnavailable`` if unreadable."""
    with read_only(url) as conn:
        return inbox.replies(conn, clinic_id, unread_only)


def unread_replies(url: str) -> dict[str, int]:
    """Unread replies per clinic; ``StoreUnavailable`` if unreadable."""
    with read_only(url) as conn:
        return inbox.unread_by_clinic(conn)


def mark_reply_handled(url: str, message_sid: str, at: datetime) -> bool:
    """Mark one reply handled; False if there is none; ``StoreUnavailable`` if unwritable."""
    with writable(url) as conn:
        return inbox.mark_handled(conn, message_sid, at)
