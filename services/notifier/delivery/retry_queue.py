"""The ledger's rows waiting for another try: which are due, and what becomes of the rest.

A transient failure leaves a row ``pending`` with the reminder itself (see
:meth:`DeliveryLedger.defer`); this is how those rows are found again, earliest
deadline first, closed when they cannot be tried, moved past a clinic's quiet
hours, and opened afresh when a dead letter is replayed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update

from services.notifier.delivery.ledger import (
    INTERRUPTED,
    Delivery,
    LedgerState,
    LedgerTable,
    Retry,
    deliveries,
)
from services.shared.events import Channel


class RetryQueue(LedgerTable):
    """The ``pending`` rows of the ledger, as a queue of retries."""

    def due_retries(self, now: datetime, limit: int = 50) -> list[Retry]:
        """The ``pending`` rows whose next attempt is due by ``now``, earliest deadline first.

        After an outage, or at the end of quiet hours, many are due at once: those whose
        last useful moment (``retry_until``) comes soonest go first.
        """
        query = (
            select(
                deliveries.c.payload,
                deliveries.c.channel,
                deliveries.c.source_partition,
                deliveries.c.source_offset,
                deliveries.c.reminder_id,
            )
            .where(
                deliveries.c.state == LedgerState.PENDING.value,
                deliveries.c.next_attempt_at <= now,
                deliveries.c.payload.is_not(None),
            )
            .order_by(deliveries.c.retry_until.asc().nulls_last(), deliveries.c.next_attempt_at)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return [Retry(row[0], Channel(row[1]), row[2], row[3], row[4]) for row in rows]

    def fail_pending(self, retry: Retry, reason: str, now: datetime) -> None:
        """Close a deferred delivery that cannot be tried again (``pending`` -> ``failed``)."""
        self._move(
            retry.reminder_id,
            retry.channel,
            LedgerState.PENDING,
            LedgerState.FAILED,
            now,
            reason=reason,
        )

    def interrupted_retries(self, before: datetime, now: datetime) -> list[tuple[str, Delivery]]:
        """Close the retries a stopped notifier left ``sending`` (last touched before ``before``).

        Each becomes ``unknown`` (the provider may have taken it: never resent), as a
        redelivered reminder does; returns their reminders and rows.
        """
        query = select(deliveries.c.reminder_id, deliveries.c.channel, deliveries.c.payload).where(
            deliveries.c.state == LedgerState.SENDING.value,
            deliveries.c.payload.is_not(None),
            deliveries.c.updated_at < before,
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        closed = []
        for reminder_id, channel, payload in rows:
            moved = self._move(
                reminder_id,
                Channel(channel),
                LedgerState.SENDING,
                LedgerState.UNKNOWN,
                now,
                reason=INTERRUPTED,
            )
            if moved:
                closed.append((payload, self._must_get(reminder_id, Channel(channel))))
        return closed

    def postpone(self, reminder_id: str, channel: Channel, until: datetime) -> None:
        """Move a ``pending`` row's next attempt to ``until`` (a clinic's quiet hours)."""
        query = (
            update(deliveries)
            .values(next_attempt_at=until)
            .where(
                deliveries.c.reminder_id == reminder_id,
                deliveries.c.channel == channel.value,
                deliveries.c.state == LedgerState.PENDING.value,
            )
        )
        with self._engine.begin() as conn:
            conn.execute(query)

    def reopen(self, reminder_id: str, channel: Channel, replay_of: str, now: datetime) -> bool:
        """Let a ``failed`` delivery be tried afresh, once per dead letter replayed.

        True when the row was failed and not yet reopened for ``replay_of``; a
        second copy of the same replay, or a row in any other state, is left as it is.
        """
        query = (
            update(deliveries)
            .values(
                state=LedgerState.PENDING.value,
                attempts=0,
                next_attempt_at=None,
                replayed_from=replay_of,
                updated_at=now,
            )
            .where(
                deliveries.c.reminder_id == reminder_id,
                deliveries.c.channel == channel.value,
                deliveries.c.state == LedgerState.FAILED.value,
                or_(deliveries.c.replayed_from.is_(None), deliveries.c.replayed_from != replay_of),
            )
        )
        with self._engine.begin() as conn:
            return conn.execute(query).rowcount == 1
