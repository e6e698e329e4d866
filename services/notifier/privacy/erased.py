"""The patients this notifier has erased: a keyed hash of each, and when, kept for good.

Reminders of an erased patient may still be on their way (on the due topic, held
for quiet hours, waiting for a retry, replayed from a dead letter): delivery
drops each one made before the erasure, and each one of a booking that was
theirs whenever it was made (a worker whose offsets were reset to the start of
the bookings topic plans their old bookings again until it meets the erasure
once more), with the reason "patient erased". Nothing here names the patient:
a clinic id, keyed hashes, the erasure's id and time. Read into memory at start
(one entry per erasure and per booking) and kept current by the booking
follower, so a delivery's check costs a hash and a set lookup.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Column, DateTime, MetaData, String, Table, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from services.shared.database import create_tables, make_engine, stored_utc
from services.shared.erasure import ErasedPatients, ErasureKeys, PatientErased

metadata = MetaData()
erasures = Table(
    "notifier_erasures",
    metadata,
    Column("erasure_id", String(64), primary_key=True),
    Column("clinic_id", String(128), nullable=False),
    Column("patient_hash", String(64), nullable=False),
    Column("erased_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
erased_bookings = Table(
    "notifier_erased_bookings",
    metadata,
    Column("booking_hash", String(64), primary_key=True),
)


class ErasureRegister:
    """The register on SQLite or PostgreSQL (whatever ``url`` names); creates its table."""

    def __init__(self, url: str, keys: ErasureKeys) -> None:
        self._keys = keys
        self._engine = make_engine(url)
        create_tables(metadata, self._engine)
        with self._engine.connect() as conn:
            rows = conn.execute(select(erasures)).all()
            bookings = conn.execute(select(erased_bookings.c.booking_hash)).scalars().all()
        self.patients = ErasedPatients(
            keys, ((r.clinic_id, r.patient_hash, stored_utc(r.erased_at)) for r in rows)
        )
        """Who was erased and when, and their bookings, for delivery to look up."""
        self.patients.add_bookings(bookings)

    def close(self) -> None:
        self._engine.dispose()

    def record(self, erased: PatientErased, now: datetime) -> bool:
        """Note the erasure; False when it was noted before (the booking topic read again)."""
        digest = self._keys.patient(erased.clinic_id, erased.patient_id)
        self.patients.add(erased.clinic_id, digest, erased.erased_at)
        row = {
            "erasure_id": erased.erasure_id,
            "clinic_id": erased.clinic_id,
            "patient_hash": digest,
            "erased_at": erased.erased_at,
            "recorded_at": now,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(erasures).values(**row))
        except IntegrityError:
            return False
        return True

    def record_bookings(self, clinic_id: str, booking_ids: Iterable[str]) -> None:
        """Note the erased patient's bookings: none of their reminders goes out, ever."""
        hashes = {self.patients.booking_hash(clinic_id, b) for b in booking_ids}
        self.patients.add_bookings(hashes)
        insert_ = pg_insert if self._engine.dialect.name == "postgresql" else sqlite_insert
        with self._engine.begin() as conn:
            for digest in hashes:
                statement = insert_(erased_bookings).values(booking_hash=digest)
                conn.execute(statement.on_conflict_do_nothing())
