"""What the notifier keeps, and for how long (docs/privacy.md gives the reasons).

Settled deliveries and the local sinks' lines go after ``deliveries_days``;
replies once handled after ``replies_days`` (unread ones after
``unread_replies_days``); who sent an inbound text, and its answer, after
``inbound_days`` (its MessageSid stays, against replays); the notifier's copy
of a booking as long as the booking store keeps the booking. The consent
registry is kept: a patient's STOP must hold for good.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, or_, update

from services.notifier.bookings.seen import seen
from services.notifier.delivery.ledger import LedgerState, deliveries
from services.notifier.patients.inbound_log import received
from services.notifier.patients.replies import inbox
from services.notifier.senders.local import SINK_FILES, erase_lines
from services.shared.database import deleted
from services.shared.events import BookingStatus

SETTLED = [
    state.value
    for state in (
        LedgerState.SENT,
        LedgerState.DELIVERED,
        LedgerState.FAILED,
        LedgerState.SKIPPED,
        LedgerState.UNKNOWN,
    )
]
"""Ledger states with nothing left to do; pending and sending rows are never swept."""


@dataclass(frozen=True)
class NotifierRetention:
    """Days each kind of record is kept (``CLINIC_RETENTION_*``)."""

    deliveries_days: int = 90
    replies_days: int = 90
    unread_replies_days: int = 180
    inbound_days: int = 30
    finished_days: int = 400
    cancelled_days: int = 30

    def sweep(self, engine: Engine, outbox_dir: Path, now: datetime) -> Mapping[str, int]:
        """Remove what is past its time at ``now``; counts by kind."""
        deliveries_before = now - timedelta(days=self.deliveries_days)
        with engine.begin() as conn:
            counts = {
                "deliveries": deleted(
                    conn,
                    delete(deliveries).where(
                        deliveries.c.state.in_(SETTLED),
                        deliveries.c.updated_at < deliveries_before,
                    ),
                ),
                "replies": deleted(conn, delete(inbox).where(self._old_reply(now))),
                "inbound senders and answers": forget_senders(
                    conn, now - timedelta(days=self.inbound_days)
                ),
                "bookings seen": deleted(
                    conn,
                    delete(seen).where(
                        or_(
                            seen.c.start_at < now - timedelta(days=self.finished_days),
                            and_(
                                seen.c.status == BookingStatus.CANCELLED.value,
                                seen.c.changed_at < now - timedelta(days=self.cancelled_days),
                            ),
                        )
                    ),
                ),
            }
        counts["local sink lines"] = sum(
            erase_lines(outbox_dir / name, _sent_before(deliveries_before))
            for name in SINK_FILES.values()
        )
        return counts

    def _old_reply(self, now: datetime) -> Any:
        handled = and_(
            inbox.c.handled_at.is_not(None),
            inbox.c.handled_at < now - timedelta(days=self.replies_days),
        )
        unread = and_(
            inbox.c.handled_at.is_(None),
            inbox.c.received_at < now - timedelta(days=self.unread_replies_days),
        )
        return or_(handled, unread)


def forget_senders(conn: Connection, before: datetime) -> int:
    """Clears who sent each text received before ``before``, and what it was answered.

    The MessageSid stays, for good: Twilio signs a request without a date, so a
    request replayed a year later would otherwise be acted on again (a patient's old
    STOP or START undoing what they asked since). It names a message at Twilio,
    nothing held here.
    """
    old = and_(
        received.c.received_at < before,
        or_(received.c.sender_hash.is_not(None), received.c.answer.is_not(None)),
    )
    cleared = update(received).where(old).values(sender_hash=None, answer=None)
    return int(conn.execute(cleared).rowcount)


def _sent_before(cutoff: datetime) -> Callable[[dict[str, Any]], bool]:
    def old(line: dict[str, Any]) -> bool:
        try:
            return datetime.fromisoformat(str(line.get("sent_at"))) < cutoff
        except ValueError:
            return True  # a line without a time of sending is of no use either

    return old
