"""The replies inbox: what patients texted that a person at the clinic should read.

A request to rearrange, any text that is not a keyword, an opt-out (a patient
who replied CANCEL may have meant the appointment) and a confirmation with no
appointment to confirm, each linked to the patient's booking when one is known.
Kept in the notifier's database beside the ledger, one row per text (Twilio's
MessageSid), unread until someone marks it handled.

The notifier writes it (:class:`RepliesInbox`); the ops console reads it and
marks rows handled through the functions below, never through the table.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Index,
    MetaData,
    String,
    Table,
    Text,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from services.shared.database import create_tables, make_engine, stored_utc

UNMAPPED = "*"
"""The clinic of a text to a number no clinic is mapped to, from a phone no booking has."""


class ReplyKind(StrEnum):
    REARRANGE = "rearrange"
    MESSAGE = "message"
    OPTED_OUT = "opted-out"
    UNMATCHED_CONFIRM = "unmatched-confirm"
    """A confirmation with no upcoming booking to confirm."""


metadata = MetaData()
inbox = Table(
    "notifier_replies",
    metadata,
    Column("message_sid", String(64), primary_key=True),
    Column("clinic_id", String(128), nullable=False),
    Column("phone", String(20), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("word", String(32)),
    Column("body", Text, nullable=False),
    Column("booking_id", String(128)),
    Column("patient_id", String(128)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("handled_at", DateTime(timezone=True)),
    Index("ix_notifier_replies_clinic", "clinic_id", "received_at"),
)


@dataclass(frozen=True)
class InboxReply:
    """One text in the inbox; ``handled_at`` None means unread."""

    message_sid: str
    clinic_id: str
    phone: str
    kind: ReplyKind
    word: str | None
    body: str
    booking_id: str | None
    patient_id: str | None
    received_at: datetime
    handled_at: datetime | None = None

    @property
    def summary(self) -> str:
        """What the text asks for, as the inbox says it."""
        return _SUMMARIES[self.kind].format(word=self.word or "")


_SUMMARIES = {
    ReplyKind.REARRANGE: "asks to rearrange (replied {word})",
    ReplyKind.MESSAGE: "wrote a message",
    ReplyKind.OPTED_OUT: (
        "opted out of texts (replied {word}): no more reminders by SMS; "
        "they may have meant to cancel the appointment"
    ),
    ReplyKind.UNMATCHED_CONFIRM: "replied {word} to confirm, but has no upcoming booking",
}


class RepliesInbox:
    """The notifier's side: puts texts in the inbox, on SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        create_tables(metadata, self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def add(self, reply: InboxReply) -> None:
        """Put ``reply`` in the inbox; a text already there (same MessageSid) stays as it is."""
        row = {**vars(reply), "kind": reply.kind.value}
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(inbox).values(**row))
        except IntegrityError:
            pass

    def erase(self, clinic_id: str, patient_id: str, phones: Collection[str]) -> Erased:
        """Delete an erased patient's texts: those linked to them at ``clinic_id``, and those
        from their phones to that clinic or to a number no clinic is mapped to."""
        mine = or_(
            and_(inbox.c.clinic_id == clinic_id, inbox.c.patient_id == patient_id),
            and_(inbox.c.clinic_id.in_([clinic_id, UNMAPPED]), inbox.c.phone.in_(list(phones))),
        )
        with self._engine.begin() as conn:
            rows = conn.execute(select(inbox.c.message_sid, inbox.c.phone).where(mine)).all()
            conn.execute(delete(inbox).where(mine))
        return Erased(frozenset(r.message_sid for r in rows), frozenset(r.phone for r in rows))


@dataclass(frozen=True)
class Erased:
    """The texts an erasure deleted, and the phones they came from."""

    message_sids: frozenset[str]
    phones: frozenset[str]


def replies(
    conn: Connection, clinic_id: str | None = None, unread_only: bool = False, limit: int = 200
) -> list[InboxReply]:
    """The inbox, newest first: one clinic's or every clinic's, unread only or all."""
    query = (
        select(inbox).order_by(inbox.c.received_at.desc(), inbox.c.message_sid.desc()).limit(limit)
    )
    if clinic_id is not None:
        query = query.where(inbox.c.clinic_id == clinic_id)
    if unread_only:
        query = query.where(inbox.c.handled_at.is_(None))
    return [_reply(r) for r in conn.execute(query).mappings()]


def unread_by_clinic(conn: Connection) -> dict[str, int]:
    """How many texts wait to be read, per clinic (clinics with none are left out)."""
    query = (
        select(inbox.c.clinic_id, func.count())
        .where(inbox.c.handled_at.is_(None))
        .group_by(inbox.c.clinic_id)
    )
    return {clinic: count for clinic, count in conn.execute(query).tuples()}


def mark_handled(conn: Connection, message_sid: str, at: datetime) -> bool:
    """Mark one text handled (in the caller's transaction); False if there is no such text.

    Marking one already handled keeps the first time.
    """
    found = conn.execute(select(inbox.c.handled_at).where(inbox.c.message_sid == message_sid))
    if found.first() is None:
        return False
    conn.execute(
        update(inbox)
        .where(inbox.c.message_sid == message_sid, inbox.c.handled_at.is_(None))
        .values(handled_at=at)
    )
    return True


def _reply(row: Any) -> InboxReply:
    handled = row["handled_at"]
    return InboxReply(
        row["message_sid"],
        row["clinic_id"],
        row["phone"],
        ReplyKind(row["kind"]),
        row["word"],
        row["body"],
        row["booking_id"],
        row["patient_id"],
        stored_utc(row["received_at"]),
        None if handled is None else stored_utc(handled),
    )
