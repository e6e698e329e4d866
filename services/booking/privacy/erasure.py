"""A patient erased from the booking store, and the erasure published to the other services.

One transaction deletes every booking of the patient at the clinic with its
history, its outbox rows (published or not: those not yet published never
will be), the idempotency keys and clinic callbacks of its events, and what the
calendar feeds recorded of it; keeps a keyed hash of each booking id (so the
same booking is not booked again, :mod:`erased_bookings`) and the audit record;
and queues, after everything else of the patient, :class:`PatientErased` for
the bookings topic and the booking service's :class:`ErasureRecord` for the
erasures topic. The relay publishes both, so an erasure accepted is an erasure
the worker and the notifier will act on, even if the broker is down now.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Delete, delete, func, insert, select

from services.booking.store import erased_bookings
from services.booking.store.outbox import queue_outbox
from services.booking.store.store import BookingStore
from services.booking.store.tables import (
    booking_events,
    bookings,
    calendar_events,
    callbacks,
    erasures,
    fhir_appointments,
    idempotency_keys,
    outbox,
)
from services.shared.database import release_deleted
from services.shared.erasure import ErasureKeys, ErasureRecord, PatientErased
from services.shared.events import encode, patient_key
from services.shared.topics import Topics

SERVICE = "booking"


@dataclass(frozen=True)
class Erasure:
    """One erasure as the booking service answers it: the event, and rows deleted per table."""

    event: PatientErased
    record: ErasureRecord

    @property
    def counts(self) -> dict[str, int]:
        return self.record.counts


class PatientEraser:
    """Erases patients from one booking store and tells the other services, through its outbox."""

    def __init__(self, store: BookingStore, keys: ErasureKeys, topics: Topics) -> None:
        self._store = store
        self._keys = keys
        self._topics = topics

    def erase(self, clinic_id: str, patient_id: str, at: datetime, requested_by: str) -> Erasure:
        """Erase ``patient_id`` of ``clinic_id`` as of ``at``; blocks on the database.

        A patient the store does not know is erased all the same (zero rows
        here): the worker and the notifier may hold what a direct producer
        sent. Erasing again is harmless. Database errors propagate; nothing
        is changed then.
        """
        event = PatientErased(clinic_id=clinic_id, patient_id=patient_id, erased_at=at)
        with self._store.engine.begin() as conn:
            counts = _delete_patient(conn, clinic_id, patient_id, at)
            record = ErasureRecord.of(event, SERVICE, self._keys, at, counts, requested_by)
            _keep_audit(conn, record)
            _queue(conn, event.erasure_id, event.key, self._topics.bookings, encode(event), at)
            _queue(conn, record.erasure_id, record.key, self._topics.erasures, encode(record), at)
        release_deleted(self._store.engine)
        return Erasure(event, record)


def _delete_patient(
    conn: Connection, clinic_id: str, patient_id: str, at: datetime
) -> dict[str, int]:
    ids = list(
        conn.execute(
            select(bookings.c.booking_id).where(
                bookings.c.clinic_id == clinic_id, bookings.c.patient_id == patient_id
            )
        ).scalars()
    )
    events = select(booking_events.c.event_id).where(
        booking_events.c.clinic_id == clinic_id, booking_events.c.booking_id.in_(ids)
    )
    key = patient_key(clinic_id, patient_id)
    unpublished = conn.execute(
        select(func.count())
        .select_from(outbox)
        .where(outbox.c.key == key, outbox.c.published_at.is_(None))
    ).scalar_one()
    counts = {
        "idempotency_keys": _deleted(
            conn,
            delete(idempotency_keys).where(
                idempotency_keys.c.clinic_id == clinic_id, idempotency_keys.c.event_id.in_(events)
            ),
        ),
        "callbacks": _deleted(conn, delete(callbacks).where(callbacks.c.event_id.in_(events))),
        "booking_events": _deleted(
            conn,
            delete(booking_events).where(
                booking_events.c.clinic_id == clinic_id, booking_events.c.booking_id.in_(ids)
            ),
        ),
        "outbox": _deleted(conn, delete(outbox).where(outbox.c.key == key)),
        "outbox_unpublished": int(unpublished),
        "calendar_events": _deleted(
            conn,
            delete(calendar_events).where(
                calendar_events.c.clinic_id == clinic_id, calendar_events.c.booking_id.in_(ids)
            ),
        ),
        "fhir_appointments": _deleted(
            conn,
            delete(fhir_appointments).where(
                fhir_appointments.c.clinic_id == clinic_id,
                fhir_appointments.c.appointment_id.in_(ids),
            ),
        ),
        "bookings": _deleted(
            conn,
            delete(bookings).where(
                bookings.c.clinic_id == clinic_id, bookings.c.booking_id.in_(ids)
            ),
        ),
    }
    erased_bookings.remember(conn, clinic_id, ids, at)
    return counts


def _deleted(conn: Connection, statement: Delete) -> int:
    return int(conn.execute(statement).rowcount)


def _keep_audit(conn: Connection, record: ErasureRecord) -> None:
    conn.execute(
        insert(erasures).values(
            erasure_id=record.erasure_id,
            clinic_id=record.clinic_id,
            patient_hash=record.patient_hash,
            requested_by=record.requested_by,
            erased_at=record.erased_at,
            counts=json.dumps(record.counts, sort_keys=True),
        )
    )


def _queue(
    conn: Connection, event_id: str, key: str, topic: str, payload: bytes, at: datetime
) -> None:
    queue_outbox(conn, event_id, key, topic, payload.decode(), at)
