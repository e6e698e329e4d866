"""The outbox: booking events waiting for the relay to publish them, queued in the writer's
transaction, and the resync that restates every stored booking through it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services.booking.store.queries import outbox_backlog
from services.booking.store.tables import bookings, outbox, store_meta
from services.shared.events import BookingEventType, patient_key

# Any constant shared by every writer: serialises outbox inserts on PostgreSQL so that
# outbox ids become visible in the order they were given, and the relay, which reads
# in id order, can never pass over a row that commits late.
_OUTBOX_LOCK = 727_001


@dataclass(frozen=True)
class OutboxRecord:
    """One event waiting to be published."""

    id: int
    event_id: str
    key: str
    topic: str
    payload: bytes


class Outbox:
    """The outbox table, as the relay and a resync use it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def pending(self, limit: int = 500) -> list[OutboxRecord]:
        """Up to ``limit`` unpublished outbox rows, oldest (lowest id) first."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(outbox)
                .where(outbox.c.published_at.is_(None))
                .order_by(outbox.c.id)
                .limit(limit)
            )
            return [
                OutboxRecord(r.id, r.event_id, r.key, r.topic, r.payload.encode()) for r in rows
            ]

    def mark_published(self, ids: Sequence[int], at: datetime) -> None:
        """Record that the broker acknowledged these outbox rows."""
        if not ids:
            return
        with self._engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id.in_(list(ids))).values(published_at=at))

    def backlog(self) -> int:
        """How many outbox rows wait to be published."""
        with self._engine.connect() as conn:
            return outbox_backlog(conn)

    def store_id(self) -> str:
        """This store's own id, made once and kept: the broker's marker names it, and a
        broker that does not know it is owed a resync."""
        with self._engine.begin() as conn:
            found = conn.execute(
                select(store_meta.c.value).where(store_meta.c.name == "store_id")
            ).scalar()
            if found is not None:
                return str(found)
        made = str(uuid.uuid4())
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(store_meta).values(name="store_id", value=made))
        except IntegrityError:  # another replica made it first: take theirs
            return self.store_id()
        return made

    def enqueue_resync(self, topic: str, at: datetime, source: str = "resync") -> int:
        """Queue a ``booking.resynced`` event of every booking in the outbox; return how many.

        One transaction, after every row already queued, so the relay publishes
        each booking's older events first and its current snapshot last.
        The history is not written: a resync restates, it changes nothing.
        """
        count = 0
        with self._engine.begin() as conn:
            _lock(conn)
            stored = conn.execute(
                select(bookings.c.clinic_id, bookings.c.patient_id, bookings.c.snapshot).order_by(
                    bookings.c.clinic_id, bookings.c.booking_id
                )
            )
            for page in stored.partitions(1000):
                rows = [_resync_row(row, topic, at, source) for row in page]
                conn.execute(insert(outbox), rows)
                count += len(rows)
        return count


def queue_outbox(
    conn: Connection, event_id: str, key: str, topic: str, payload: str, at: datetime
) -> None:
    """Queue one record for the relay to publish, in the caller's transaction."""
    _lock(conn)
    conn.execute(
        insert(outbox).values(
            event_id=event_id, key=key, topic=topic, payload=payload, created_at=at
        )
    )


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _OUTBOX_LOCK})


def _resync_row(row: Any, topic: str, at: datetime, source: str) -> dict[str, object]:
    """The outbox row restating one stored snapshot, as it stands (not validated again:
    a snapshot today's rules refuse still reaches the worker, which dead-letters it
    with the reason, rather than stopping every other booking's resync)."""
    event_id = str(uuid.uuid4())
    payload = {
        "event_id": event_id,
        "type": BookingEventType.RESYNCED.value,
        "schema_version": 1,
        "occurred_at": at.isoformat(),
        "clinic_id": row.clinic_id,
        "source": source,
        "data": json.loads(row.snapshot),
    }
    return {
        "event_id": event_id,
        "key": patient_key(row.clinic_id, row.patient_id),
        "topic": topic,
        "payload": json.dumps(payload, separators=(",", ":")),
        "created_at": at,
    }
