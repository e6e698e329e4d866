"""The notifier's own record of each booking's latest state, from the booking events.

Written by :class:`booking_follower.BookingFollower`, read by delivery right
before a reminder is handed to a provider (:mod:`currency`), and by the inbound
webhook to find the booking a patient's reply is about (by clinic and phone).
Kept in the notifier's database beside the ledger, with the offset of the
booking topic it is current to, so a restarted notifier carries on where it
stopped.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Executable,
    Index,
    Integer,
    MetaData,
    Row,
    String,
    Table,
    delete,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from services.notifier.bookings.currency import SeenBooking
from services.shared.database import create_tables, make_engine, release_deleted, stored_utc
from services.shared.events import BookingEvent, BookingStatus

log = logging.getLogger(__name__)
BookingKey = tuple[str, str]
"""A booking as the notifier knows it: its clinic id and its booking id."""
metadata = MetaData()
seen = Table(
    "notifier_bookings_seen",
    metadata,
    Column("clinic_id", String(128), primary_key=True),
    Column("booking_id", String(128), primary_key=True),
    Column("schedule_version", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
    Column("patient_id", String(128)),
    Column("phone", String(20)),
    Column("locale", String(8)),
    Column("email", String(320)),
)
by_phone = Index("ix_notifier_bookings_seen_phone", seen.c.phone, seen.c.clinic_id)
_PATIENT_COLUMNS = {
    "patient_id": "VARCHAR(128)",
    "phone": "VARCHAR(20)",
    "locale": "VARCHAR(8)",
    "email": "VARCHAR(320)",
}
positions = Table(
    "notifier_bookings_offsets",
    metadata,
    Column("topic", String(255), primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class PatientBooking:
    """A booking as the notifier last saw it, with whom it is for."""

    clinic_id: str
    booking_id: str
    patient_id: str
    locale: str
    status: BookingStatus
    start: datetime


@dataclass(frozen=True)
class Contacts:
    """What the notifier knows of how to reach one patient: their bookings, phones, emails."""

    booking_ids: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()


def _add_patient_columns(engine: Engine) -> None:
    # Made before replies were linked to bookings (or before erasures needed the email):
    # add who each booking is for, and read the booking topic again from its start to
    # fill them in (a re-read changes no state).
    columns = {c["name"] for c in inspect(engine).get_columns(seen.name)}
    missing = [name for name in _PATIENT_COLUMNS if name not in columns]
    if not missing:
        return
    with engine.begin() as conn:
        for name in missing:
            conn.execute(
                text(f"ALTER TABLE {seen.name} ADD COLUMN {name} {_PATIENT_COLUMNS[name]}")
            )
        conn.execute(delete(positions))
    by_phone.create(engine, checkfirst=True)


class BookingsSeen:
    """Each booking's latest schedule version, status and patient, on SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self._engine = make_engine(url)
        create_tables(metadata, self._engine)
        _add_patient_columns(self._engine)
        self._reads = make_engine(url, reads_only=True)
        self._readers = threading.local()

    def close(self) -> None:
        conn: Connection | None = getattr(self._readers, "conn", None)
        if conn is not None:
            conn.close()
        self._reads.dispose()
        self._engine.dispose()

    def latest(self, clinic_id: str, booking_id: str) -> SeenBooking | None:
        """The latest state seen of this booking, or None if none was (or it cannot be read)."""
        return self.latest_many([(clinic_id, booking_id)]).get((clinic_id, booking_id))

    def latest_many(self, keys: Iterable[BookingKey]) -> dict[BookingKey, SeenBooking]:
        """The latest state seen of each (clinic id, booking id) in ``keys`` that was seen,
        in one read (a query per clinic: the primary key leads with the clinic).

        Asked before every batch of hand-offs, so each thread keeps a connection of
        its own (a pool checkout cost as much as the read) and ends each read at
        once, so the next one sees what the follower wrote since. A connection the
        database dropped is replaced once; a database that cannot answer is logged
        and taken as "none seen": the sends go on as the reminders say.
        """
        by_clinic: dict[str, set[str]] = {}
        for clinic_id, booking_id in keys:
            by_clinic.setdefault(clinic_id, set()).add(booking_id)
        if not by_clinic:
            return {}
        queries = [
            select(seen).where(seen.c.clinic_id == clinic_id, seen.c.booking_id.in_(sorted(ids)))
            for clinic_id, ids in by_clinic.items()
        ]
        for attempt in (1, 2):
            conn = self._reader()
            try:
                rows = [row for query in queries for row in conn.execute(query)]
                conn.rollback()
                break
            except DBAPIError as exc:
                self._drop_reader(conn)
                if attempt == 2:
                    log.warning("bookings seen could not be read (%s); sending as planned", exc)
                    return {}
        return {(row.clinic_id, row.booking_id): _seen_booking(row) for row in rows}

    def for_phone(self, clinic_id: str | None, phone: str, now: datetime) -> PatientBooking | None:
        """The booking a text from ``phone`` is about: the patient's next booked appointment
        at ``clinic_id``, else their latest; None if none is known.

        With no ``clinic_id`` (a text to a number no clinic is mapped to), only when every
        booking of that phone is at one clinic: otherwise any clinic could book someone's
        phone and be handed their replies to another clinic.

        Blocks on the database; its errors propagate.
        """
        query = select(seen).where(seen.c.phone == phone)
        if clinic_id is not None:
            query = query.where(seen.c.clinic_id == clinic_id)
        with self._reads.connect() as conn:
            rows = conn.execute(query).all()
        if clinic_id is None and len({r.clinic_id for r in rows}) > 1:
            return None
        found = [_patient_booking(r) for r in rows if r.patient_id is not None]
        coming = [b for b in found if b.status is BookingStatus.BOOKED and b.start > now]
        if coming:
            return min(coming, key=lambda b: b.start)
        return max(found, key=lambda b: b.start, default=None)

    def contacts(self, clinic_id: str, patient_id: str) -> Contacts:
        """The patient's bookings at ``clinic_id``, and the phones and emails they carried."""
        query = select(seen.c.booking_id, seen.c.phone, seen.c.email).where(
            seen.c.clinic_id == clinic_id, seen.c.patient_id == patient_id
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        return Contacts(
            frozenset(r.booking_id for r in rows),
            frozenset(r.phone for r in rows if r.phone),
            frozenset(r.email for r in rows if r.email),
        )

    def erase(self, clinic_id: str, patient_id: str) -> int:
        """Forget every booking of the patient at ``clinic_id``; return how many rows went.

        The last step of an erasure: the database's log is then let go of
        (:func:`release_deleted`), with the pages every other store changed.
        """
        query = delete(seen).where(seen.c.clinic_id == clinic_id, seen.c.patient_id == patient_id)
        with self._engine.begin() as conn:
            gone = int(conn.execute(query).rowcount)
        release_deleted(self._engine)
        return gone

    def _drop_reader(self, conn: Connection) -> None:
        with contextlib.suppress(Exception):
            conn.invalidate()
            conn.close()
        self._readers.conn = None

    def record(
        self, events: Iterable[BookingEvent], offsets: Mapping[tuple[str, int], int]
    ) -> None:
        """Keep each event's booking state and the offsets now read to, in one transaction.

        Events come in partition order, so the last about a booking is its latest;
        a row already holding a later change is kept (a topic read again from its
        start must not take a cancelled booking back to booked).
        """
        rows = {(e.clinic_id, e.data.booking_id): _row(e) for e in events}
        with self._engine.begin() as conn:
            for row in rows.values():
                conn.execute(self._upsert(seen, row, ("clinic_id", "booking_id"), newer=True))
            for (topic, partition), offset in offsets.items():
                key = {"topic": topic, "partition": partition, "next_offset": offset}
                conn.execute(self._upsert(positions, key, ("topic", "partition")))

    def _reader(self) -> Connection:
        conn: Connection | None = getattr(self._readers, "conn", None)
        if conn is None or conn.closed:
            conn = self._readers.conn = self._reads.connect()
        return conn

    def offsets(self, topic: str) -> dict[int, int]:
        """The next offset to read of each partition of ``topic`` (none: from the start)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(positions).where(positions.c.topic == topic))
            return {r.partition: r.next_offset for r in rows}

    def forget_offsets(self, topic: str) -> None:
        """Read ``topic`` from its start again (the broker lost what it held)."""
        with self._engine.begin() as conn:
            conn.execute(delete(positions).where(positions.c.topic == topic))

    def _upsert(
        self, table: Table, row: dict[str, object], keys: tuple[str, ...], newer: bool = False
    ) -> Executable:
        insert = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        statement = insert(table).values(**row)
        changed = {k: v for k, v in row.items() if k not in keys}
        where = table.c.changed_at <= statement.excluded.changed_at if newer else None
        return statement.on_conflict_do_update(index_elements=list(keys), set_=changed, where=where)


def _row(event: BookingEvent) -> dict[str, object]:
    booking = event.data
    return {
        "clinic_id": booking.clinic_id,
        "booking_id": booking.booking_id,
        "schedule_version": booking.schedule_version,
        "status": booking.status.value,
        "start_at": booking.start,
        "changed_at": event.occurred_at,
        "patient_id": booking.patient.id,
        "phone": booking.patient.phone,
        "locale": booking.patient.locale,
        "email": booking.patient.email,
    }


def _seen_booking(row: Row[Any]) -> SeenBooking:
    return SeenBooking(
        row.schedule_version,
        BookingStatus(row.status),
        stored_utc(row.start_at),
        stored_utc(row.changed_at),
    )


def _patient_booking(row: Row[Any]) -> PatientBooking:
    return PatientBooking(
        row.clinic_id,
        row.booking_id,
        row.patient_id,
        row.locale or "en-GB",
        BookingStatus(row.status),
        stored_utc(row.start_at),
    )
