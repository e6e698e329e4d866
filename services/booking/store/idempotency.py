"""Idempotency keys: a caller's retried request answered with the first result, in the
writer's transaction; the same key for a different request is a conflict."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from services.booking.errors import Conflict
from services.booking.store.tables import booking_events, idempotency_keys
from services.shared.events import BookingEvent


@dataclass(frozen=True)
class IdempotencyKey:
    """A caller's ``Idempotency-Key`` and the digest of the request it came with."""

    key: str
    fingerprint: str


def first_result(
    conn: Connection, clinic_id: str, idempotency: IdempotencyKey | None
) -> BookingEvent | None:
    """The event first recorded under this key at this clinic, or None if the key is new.

    Raises:
        Conflict: the key was used for a different request.
    """
    if idempotency is None:
        return None
    row = conn.execute(
        select(idempotency_keys).where(
            idempotency_keys.c.clinic_id == clinic_id, idempotency_keys.c.key == idempotency.key
        )
    ).first()
    if row is None:
        return None
    if row.fingerprint != idempotency.fingerprint:
        raise Conflict(f"Idempotency-Key {idempotency.key!r} was used for a different request")
    payload = conn.execute(
        select(booking_events.c.payload).where(booking_events.c.event_id == row.event_id)
    ).scalar_one()
    return BookingEvent.model_validate_json(payload)


def remember(conn: Connection, event: BookingEvent, idempotency: IdempotencyKey | None) -> None:
    """Keep ``event`` as the result of the key's request (nothing without a key)."""
    if idempotency is None:
        return
    conn.execute(
        insert(idempotency_keys).values(
            clinic_id=event.clinic_id,
            key=idempotency.key,
            fingerprint=idempotency.fingerprint,
            event_id=event.event_id,
            created_at=event.occurred_at,
        )
    )
