"""What the booking store keeps, and for how long (docs/privacy.md gives the reasons).

A booking, with its history and calendar link, is removed once its appointment
is ``finished_days`` in the past (the longest plan, a maintenance recall twelve
months after the course, must have played out first), or ``cancelled_days``
after its cancel. Published outbox rows, idempotency keys and sent clinic
callbacks are only working records and go sooner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, delete, or_, select

from services.booking.store.tables import (
    booking_events,
    bookings,
    calendar_events,
    callbacks,
    fhir_appointments,
    idempotency_keys,
    outbox,
)
from services.shared.database import deleted
from services.shared.events import BookingStatus

BATCH = 500
"""Bookings removed per transaction: a long sweep never holds the store for long."""


@dataclass(frozen=True)
class BookingRetention:
    """Days each kind of record is kept (``CLINIC_RETENTION_*``)."""

    finished_days: int = 400
    cancelled_days: int = 30
    outbox_days: int = 7
    idempotency_days: int = 30
    callbacks_days: int = 30

    def sweep(self, engine: Engine, now: datetime) -> dict[str, int]:
        """Remove what is past its time at ``now``; counts by kind."""
        counts = {"bookings": 0}
        finished = now - timedelta(days=self.finished_days)
        cancelled = now - timedelta(days=self.cancelled_days)
        while batch := self._expired(engine, finished, cancelled):
            with engine.begin() as conn:
                _remove_bookings(conn, batch)
            counts["bookings"] += len(batch)
        with engine.begin() as conn:
            counts["published outbox rows"] = deleted(
                conn,
                delete(outbox).where(
                    outbox.c.published_at.is_not(None),
                    outbox.c.published_at < now - timedelta(days=self.outbox_days),
                ),
            )
            counts["idempotency keys"] = deleted(
                conn,
                delete(idempotency_keys).where(
                    idempotency_keys.c.created_at < now - timedelta(days=self.idempotency_days)
                ),
            )
            counts["sent callbacks"] = deleted(
                conn,
                delete(callbacks).where(
                    callbacks.c.done_at.is_not(None),
                    callbacks.c.done_at < now - timedelta(days=self.callbacks_days),
                ),
            )
        return counts

    def _expired(
        self, engine: Engine, finished: datetime, cancelled: datetime
    ) -> list[tuple[str, str]]:
        query = (
            select(bookings.c.clinic_id, bookings.c.booking_id)
            .where(
                or_(
                    bookings.c.start_at < finished,
                    and_(
                        bookings.c.status == BookingStatus.CANCELLED.value,
                        bookings.c.updated_at < cancelled,
                    ),
                )
            )
            .limit(BATCH)
        )
        with engine.connect() as conn:
            return [(row[0], row[1]) for row in conn.execute(query)]


def _remove_bookings(conn: Connection, ids: Iterable[tuple[str, str]]) -> None:
    by_clinic: dict[str, list[str]] = {}
    for clinic_id, booking_id in ids:
        by_clinic.setdefault(clinic_id, []).append(booking_id)
    for clinic_id, booking_ids in by_clinic.items():
        for table in (booking_events, calendar_events, bookings):
            conn.execute(
                delete(table).where(
                    table.c.clinic_id == clinic_id, table.c.booking_id.in_(booking_ids)
                )
            )
        conn.execute(
            delete(fhir_appointments).where(
                fhir_appointments.c.clinic_id == clinic_id,
                fhir_appointments.c.appointment_id.in_(booking_ids),
            )
        )
