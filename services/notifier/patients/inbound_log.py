"""Every inbound text the notifier has taken, by Twilio's MessageSid, and what it answered.

Twilio sends a webhook again when it got no answer, and a signed request can be
replayed by anyone who saw it. A text is acted on once: a repeat of one already
handled changes nothing and gets the same answer. A text is dated by when it was
first received, so a repeat of one whose handling failed half-way (a STOP
recorded, the broker down) is handled again as of then, and a later START still
wins.

Who sent a text is kept only as a keyed hash of the number (``sender_hash``), so
that a patient's erasure finds their texts here without the log holding phones.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    inspect,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError

from services.shared.database import create_tables, make_engine, stored_utc
from services.shared.erasure import ErasureKeys

metadata = MetaData()
received = Table(
    "notifier_inbound",
    metadata,
    Column("message_sid", String(64), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("handled_at", DateTime(timezone=True)),
    Column("answer", Text),
    Column("sender_hash", String(64)),
)
by_sender = Index("ix_notifier_inbound_sender", received.c.sender_hash)


@dataclass(frozen=True)
class Received:
    """A text as first received; ``handled`` once it was acted on, with ``answer``."""

    received_at: datetime
    handled: bool
    answer: str | None


class InboundLog:
    """The log on SQLite or PostgreSQL (whatever ``url`` names); creates its table.

    ``keys`` hash each sender's number; without them no sender is kept.
    """

    def __init__(self, url: str, keys: ErasureKeys | None = None) -> None:
        self._keys = keys
        self._engine = make_engine(url)
        create_tables(metadata, self._engine)
        _add_sender_column(self._engine)

    def erase(self, message_sids: Collection[str], phones: Collection[str]) -> int:
        """Forget these texts, and every text from these phones; return how many went."""
        hashes = [self._sender_hash(p) for p in phones] if self._keys else []
        mine = or_(
            received.c.message_sid.in_(list(message_sids)), received.c.sender_hash.in_(hashes)
        )
        with self._engine.begin() as conn:
            return int(conn.execute(delete(received).where(mine)).rowcount)

    def _sender_hash(self, phone: str) -> str | None:
        return None if self._keys is None else self._keys.value("sender", phone)

    def close(self) -> None:
        self._engine.dispose()

    def receive(self, message_sid: str, at: datetime, sender: str | None = None) -> Received:
        """The text ``message_sid`` (from ``sender``) as first received: now at ``at``, or as
        stored before."""
        values = {"message_sid": message_sid, "received_at": at}
        if sender is not None:
            values["sender_hash"] = self._sender_hash(sender)
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(received).values(**values))
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


def _add_sender_column(engine: Engine) -> None:
    # Logs made before erasures kept no sender; their texts are found by MessageSid only.
    if "sender_hash" not in {c["name"] for c in inspect(engine).get_columns(received.name)}:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {received.name} ADD COLUMN sender_hash VARCHAR(64)"))
    by_sender.create(engine, checkfirst=True)
