"""Booking ids of erased patients, kept as keyed hashes: such a booking is not booked again.

A clinic's calendar feed or an old CSV export may still hold an erased patient's
appointment; booking it again under the same id would bring the patient back
unasked, with the phone number and name they asked to be forgotten. A new booking
(a new id) for the same patient id is taken: a patient may come back. The key is
this store's own, made once and kept in ``store_meta``: only this store checks
these hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import weakref
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from services.booking.store.tables import erased_bookings, store_meta

_KEY_NAME = "erased_booking_key"
_keys: weakref.WeakKeyDictionary[Engine, bytes] = weakref.WeakKeyDictionary()


def is_erased(conn: Connection, clinic_id: str, booking_id: str) -> bool:
    """True when this clinic's booking id belonged to a patient since erased."""
    digest = booking_hash(conn, clinic_id, booking_id)
    query = select(erased_bookings.c.booking_hash).where(erased_bookings.c.booking_hash == digest)
    return conn.execute(query).first() is not None


def remember(conn: Connection, clinic_id: str, booking_ids: Iterable[str], at: datetime) -> None:
    """Keep the hash of each erased booking id (in the caller's transaction)."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for booking_id in booking_ids:
        row = {"booking_hash": booking_hash(conn, clinic_id, booking_id), "erased_at": at}
        conn.execute(insert(erased_bookings).values(**row).on_conflict_do_nothing())


def booking_hash(conn: Connection, clinic_id: str, booking_id: str) -> str:
    message = f"{clinic_id}\x00{booking_id}".encode()
    return hmac.new(_key(conn), message, hashlib.sha256).hexdigest()


def _key(conn: Connection) -> bytes:
    known = _keys.get(conn.engine)
    if known is not None:
        return known
    query = select(store_meta.c.value).where(store_meta.c.name == _KEY_NAME)
    found = conn.execute(query).scalar()
    if found is not None:
        key = _keys[conn.engine] = bytes.fromhex(str(found))
        return key
    # Made in the caller's transaction, which may yet roll back: not remembered until
    # a later transaction reads it back as stored.
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    made = {"name": _KEY_NAME, "value": secrets.token_hex(32)}
    conn.execute(insert(store_meta).values(**made).on_conflict_do_nothing())
    return bytes.fromhex(str(conn.execute(query).scalar_one()))  # another replica's, if first
