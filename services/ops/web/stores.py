"""Read-only queries of the delivery ledger and the booking store for the page, and the
replies inbox (read, and a reply marked handled) through the notifier's own module.

Reads go through :func:`services.ops.stores.read_only`: a connection that cannot
write and that never creates a missing SQLite file. The booking store's own
class is not used here because it creates its tables and opens write
transactions when it starts; the rows are the same ones it writes.
"""

from __future__ import annotations

from datetime import datetime

from services.booking.store import queries as booking_queries
from services.booking.store.queries import StoredBooking
from services.notifier import queries as notifier_queries
from services.notifier.patients import replies as inbox
from services.notifier.patients.replies import InboxReply
from services.notifier.queries import LedgerRow
from services.ops.stores import read_only, writable


def ledger_since(url: str, since: datetime, limit: int = 50_000) -> list[LedgerRow]:
    """Ledger rows changed at or after ``since``; ``StoreUnavailable`` if unreadable."""
    with read_only(url) as conn:
        return notifier_queries.ledger_since(conn, since, limit)


def ledger_for_booking(url: str, booking_id: str) -> list[LedgerRow]:
    """Every ledger row of ``booking_id``, oldest first; ``StoreUnavailable`` if unreadable."""
    with read_only(url) as conn:
        return notifier_queries.ledger_for_booking(conn, booking_id)


def stored_bookings(url: str, booking_id: str) -> list[StoredBooking]:
    """``booking_id`` at every clinic that has it, with its history; ``StoreUnavailable``."""
    with read_only(url) as conn:
        return booking_queries.stored_bookings(conn, booking_id)


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
