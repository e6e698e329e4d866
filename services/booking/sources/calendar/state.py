"""What each calendar feed last said about each of its events, kept in the booking database.

So that a restarted poller neither imports an event twice nor cancels a booking
because it has not seen the feed yet: the next poll compares the feed with
this record, not with nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Engine, delete, insert, select

from services.booking.store.tables import calendar_events
from services.shared.database import stored_utc


class EventState(StrEnum):
    ACTIVE = "active"
    """Booked from the feed; a move reschedules it, a removal cancels it."""
    CANCELLED = "cancelled"
    """Cancelled through the feed (STATUS:CANCELLED or removed)."""
    ENDED = "ended"
    """Left the feed after its start: kept as it was, no longer watched."""


@dataclass(frozen=True)
class FeedRecord:
    """One event of one feed, as the poller last acted on it."""

    uid: str
    clinic_id: str
    booking_id: str
    start: datetime
    sequence: int
    state: EventState

    @property
    def key(self) -> str:
        return event_key(self.uid)


def event_key(uid: str) -> str:
    """A fixed-length key for a UID of any length."""
    return hashlib.sha256(uid.encode()).hexdigest()[:64]


def feed_name(source: str) -> str:
    """The default name of a feed: a digest of its address (which may hold a secret token)."""
    return "feed-" + hashlib.sha256(source.encode()).hexdigest()[:16]


class CalendarState:
    """The ``calendar_events`` table over the booking store's engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        calendar_events.create(engine, checkfirst=True)

    def load(self, feed: str) -> dict[str, FeedRecord]:
        """Every event recorded for ``feed``, by :func:`event_key`."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(calendar_events).where(calendar_events.c.feed == feed))
            records = [
                FeedRecord(
                    r.uid,
                    r.clinic_id,
                    r.booking_id,
                    stored_utc(r.start_at),
                    r.sequence,
                    EventState(r.state),
                )
                for r in rows
            ]
        return {r.key: r for r in records}

    def save(self, feed: str, record: FeedRecord, at: datetime) -> None:
        """Record ``record`` for ``feed``, replacing what was there for its UID."""
        key = (calendar_events.c.feed == feed, calendar_events.c.event_key == record.key)
        with self._engine.begin() as conn:
            conn.execute(delete(calendar_events).where(*key))
            conn.execute(
                insert(calendar_events).values(
                    feed=feed,
                    event_key=record.key,
                    uid=record.uid,
                    clinic_id=record.clinic_id,
                    booking_id=record.booking_id,
                    start_at=record.start.astimezone(UTC),
                    sequence=record.sequence,
                    state=record.state.value,
                    updated_at=at,
                )
            )
