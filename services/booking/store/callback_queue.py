"""The queue of clinic callbacks: an event to POST to its clinic, kept until it is done.

A callback is queued in the transaction that records its event (like the
outbox), so a confirmation recorded is a confirmation the clinic will be told
about; :mod:`services.booking.publishing.callbacks` sends them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, insert, select, update

from services.booking.store.tables import callbacks
from services.shared.events import BookingEvent


@dataclass(frozen=True)
class PendingCallback:
    """One event waiting to be POSTed to its clinic; ``attempts`` made so far."""

    id: int
    event_id: str
    clinic_id: str
    payload: bytes
    attempts: int


def queue(conn: Connection, event: BookingEvent) -> None:
    """Queue ``event`` for its clinic's callback, in the caller's transaction."""
    conn.execute(
        insert(callbacks).values(
            event_id=event.event_id,
            clinic_id=event.clinic_id,
            payload=event.model_dump_json(),
            created_at=event.occurred_at,
            attempts=0,
            next_at=event.occurred_at,
        )
    )


class CallbackQueue:
    """The queue in the booking store's database (the engine of :class:`BookingStore`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def due(self, now: datetime, limit: int = 50) -> list[PendingCallback]:
        """Callbacks not done whose next try is due by ``now``, oldest first."""
        query = (
            select(callbacks)
            .where(callbacks.c.done_at.is_(None), callbacks.c.next_at <= now)
            .order_by(callbacks.c.next_at, callbacks.c.id)
            .limit(limit)
        )
        with self._engine.connect() as conn:
            return [
                PendingCallback(r.id, r.event_id, r.clinic_id, r.payload.encode(), r.attempts)
                for r in conn.execute(query)
            ]

    def done(self, callback: PendingCallback, at: datetime, outcome: str) -> None:
        """Close ``callback``: delivered, refused or given up, as ``outcome`` says."""
        values = {"done_at": at, "outcome": outcome, "attempts": callback.attempts + 1}
        self._set(callback.id, values)

    def later(self, callback: PendingCallback, at: datetime, why: str) -> None:
        """Try ``callback`` again at ``at``; ``why`` the last try failed."""
        self._set(callback.id, {"next_at": at, "outcome": why, "attempts": callback.attempts + 1})

    def outcome(self, event_id: str) -> tuple[int, str | None, bool] | None:
        """(attempts, last outcome, done) of the callback of ``event_id``, if one was queued."""
        query = select(callbacks).where(callbacks.c.event_id == event_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row.attempts, row.outcome, row.done_at is not None)

    def _set(self, callback_id: int, values: dict[str, object]) -> None:
        with self._engine.begin() as conn:
            conn.execute(update(callbacks).where(callbacks.c.id == callback_id).values(**values))
