"""Every inbound text the notifier has taken, by Twilio's MessageSid, and what it answered.

Twilio sends a webhook again when it got no answer, and a signed request can be
replayed by anyone who saw it. A text is acted on once: a repeat of one already
handled changes nothing and gets the same answer. A text is dated by when it was
first received, so a repeat of one whose handling failed half-way (a STOP
recorded, the broker down) is handled again as of then, and a later START still
wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, insert, select, update
from sqlalchemy.exc import IntegrityError

from services.shared.database import make_engine, stored_utc

metadata = MetaData()
received = Table(
    "notifier_inbound",
    metadata,
    Column("message_sid", String(64), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("handled_at", DateTime(timezone=True)),
    Column("answer", Text),
)


@dataclass(frozen=True)
class Received:
    """A text as first received; ``handled`` once it was acted on, with ``answer``."""

    received_at: datetime
    handled: bool
    answer: str | None


class InboundLog:
    """The log on SQLite or PostgreSQL (whatever ``url`` names); creates its table."""

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        metadata.create_all(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def receive(self, message_sid: str, at: datetime) -> Received:
        """The text ``message_sid`` as first received: now at ``at``, or as stored before."""
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(received).values(message_sid=message_sid, received_at=at))
            return Received(at, False, None)
        except IntegrityError:
            pass
        with self._engine.connect() as conn:
            row = conn.execute(select(received).where(received.c.message_sid == message_sid)).one()
        return Received(stored_utc(row.received_at), row.handled_at is not None, row.answer)

    def handled(self, message_sid: str, at: datetime, answer: str | None) -> None:
        """Record that ``message_sid`` was acted on and what it was answered."""
        with self._engine.begin() as conn:
            conn.execute(
                update(received)
                .where(received.c.message_sid == message_sid)
                .values(handled_at=at, answer=answer)
            )
