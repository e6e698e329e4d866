"""The consent registry: what each patient last said about being texted or emailed, kept for good.

Keyed by address, clinic and channel: the phone number for SMS, the email
address (in lower case) for email. A keyword sent to a number no clinic is
mapped to is kept under ``*`` and applies to every clinic. The latest word
wins: a START after a STOP opts back in, and a change that arrives late (older
than the one stored) changes nothing.

When a patient is erased, their rows keep only a keyed hash of the address
(:meth:`ErasureKeys.address`), never the address: a STOP still holds if the
number is booked again, since every lookup asks for the address and its hash.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Engine,
    MetaData,
    String,
    Table,
    delete,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from services.shared.database import create_tables, make_engine, stored_utc
from services.shared.erasure import ErasureKeys
from services.shared.events import Channel, ConsentChanged

ANY_CLINIC = "*"
Asked = tuple[str, str, Channel]
"""An address, a clinic id and a channel, as :meth:`ConsentRegistry.opted_out_many` takes them."""

metadata = MetaData()
consents = Table(
    "notifier_consent",
    metadata,
    Column("address", String(320), primary_key=True),
    Column("clinic_id", String(128), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("granted", Boolean, nullable=False),
    Column("source", String(64), nullable=False),
    Column("keyword", String(32)),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class ConsentRecord:
    """The last word one phone or email address gave one clinic (or ``*``) on one channel."""

    address: str
    clinic_id: str
    channel: Channel
    granted: bool
    source: str
    keyword: str | None
    changed_at: datetime


class ConsentRegistry:
    """The registry on SQLite or PostgreSQL (whatever ``url`` names); creates its table."""

    def __init__(self, url: str, keys: ErasureKeys | None = None) -> None:
        """``keys``: to find (and to make) the opt-outs of erased patients, kept as hashes."""
        self._keys = keys
        self._engine: Engine = make_engine(url)
        create_tables(metadata, self._engine)
        _phone_becomes_address(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> None:
        """Raise the database's error if it cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def record(self, change: ConsentChanged) -> None:
        """Keep ``change`` unless a later one is stored.

        Changes that name no address on their channel (a phone for SMS, an
        email address for email) are ignored.
        """
        address = change.phone if change.channel is Channel.SMS else change.email
        if address is None:
            return
        row: dict[str, object] = {
            "address": _stored(address, change.channel),
            "clinic_id": change.clinic_id or ANY_CLINIC,
            "channel": change.channel.value,
            "granted": change.granted,
            "source": change.source,
            "keyword": change.keyword,
            "changed_at": change.occurred_at,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(consents).values(**row))
        except IntegrityError:
            self._replace_if_older(row)

    def _replace_if_older(self, row: dict[str, object]) -> None:
        query = (
            update(consents)
            .values(**row)
            .where(
                consents.c.address == row["address"],
                consents.c.clinic_id == row["clinic_id"],
                consents.c.channel == row["channel"],
                consents.c.changed_at <= row["changed_at"],
            )
        )
        with self._engine.begin() as conn:
            conn.execute(query)

    def latest(self, address: str, clinic_id: str, channel: Channel) -> ConsentRecord | None:
        """The most recent word from ``address`` to ``clinic_id`` or to every clinic, if any."""
        query = select(consents).where(
            consents.c.address.in_(self._forms(_stored(address, channel))),
            consents.c.channel == channel.value,
            consents.c.clinic_id.in_([clinic_id, ANY_CLINIC]),
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        if not rows:
            return None
        return _record(max(rows, key=lambda r: stored_utc(r["changed_at"])))

    def opted_out(self, address: str, clinic_id: str, channel: Channel) -> ConsentRecord | None:
        """The withdrawal in force for ``address`` with ``clinic_id``, or None if there is none."""
        found = self.latest(address, clinic_id, channel)
        return found if found is not None and not found.granted else None

    def opted_out_many(self, asked: Sequence[Asked]) -> list[ConsentRecord | None]:
        """:meth:`opted_out` for each of ``asked`` (address, clinic, channel), in one read."""
        if not asked:
            return []
        stored = [
            (_stored(address, channel), clinic, channel) for address, clinic, channel in asked
        ]
        forms = {form: plain for plain, _, _ in stored for form in self._forms(plain)}
        query = select(consents).where(
            consents.c.address.in_(sorted(forms)),
            consents.c.channel.in_(sorted({channel.value for _, _, channel in asked})),
            consents.c.clinic_id.in_(sorted({clinic for _, clinic, _ in asked} | {ANY_CLINIC})),
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        words: dict[tuple[str, str, str], list[RowMapping]] = {}
        for row in rows:
            words.setdefault((forms[row["address"]], row["channel"], row["clinic_id"]), []).append(
                row
            )
        answers: list[ConsentRecord | None] = []
        for plain, clinic, channel in stored:
            mine = words.get((plain, channel.value, clinic), []) + words.get(
                (plain, channel.value, ANY_CLINIC), []
            )
            found = _record(max(mine, key=lambda r: stored_utc(r["changed_at"]))) if mine else None
            answers.append(found if found is not None and not found.granted else None)
        return answers

    def anonymise(self, clinic_id: str, phones: Iterable[str], emails: Iterable[str]) -> int:
        """Keep only the keyed hash of an erased patient's addresses; return the rows changed.

        Rows of ``clinic_id`` and of every clinic (``*``) are changed; a row
        already kept under the hash (an earlier erasure) keeps the later word.
        Raises ``RuntimeError`` when the registry has no erasure keys.
        """
        if self._keys is None:
            raise RuntimeError("the consent registry was opened without erasure keys")
        addresses = [(p, Channel.SMS) for p in phones] + [(e, Channel.EMAIL) for e in emails]
        changed = 0
        with self._engine.begin() as conn:
            for address, channel in addresses:
                plain = _stored(address, channel)
                changed += _hash_rows(conn, plain, self._keys.address(plain), clinic_id, channel)
        return changed

    def _forms(self, stored: str) -> list[str]:
        return [stored] if self._keys is None else [stored, self._keys.address(stored)]


def _hash_rows(conn: Connection, plain: str, hashed: str, clinic_id: str, channel: Channel) -> int:
    rows = conn.execute(
        select(consents).where(
            consents.c.address == plain,
            consents.c.channel == channel.value,
            consents.c.clinic_id.in_([clinic_id, ANY_CLINIC]),
        )
    ).mappings()
    changed = 0
    for row in list(rows):
        key = (consents.c.clinic_id == row["clinic_id"], consents.c.channel == row["channel"])
        kept = conn.execute(select(consents.c.changed_at).where(consents.c.address == hashed, *key))
        earlier = kept.scalar()
        if earlier is not None:
            if stored_utc(earlier) <= stored_utc(row["changed_at"]):
                values = {k: v for k, v in row.items() if k != "address"}
                conn.execute(
                    update(consents).where(consents.c.address == hashed, *key).values(values)
                )
            conn.execute(delete(consents).where(consents.c.address == plain, *key))
        else:
            conn.execute(
                update(consents).where(consents.c.address == plain, *key).values(address=hashed)
            )
        changed += 1
    return changed


def _record(row: RowMapping) -> ConsentRecord:
    return ConsentRecord(
        row["address"],
        row["clinic_id"],
        Channel(row["channel"]),
        row["granted"],
        row["source"],
        row["keyword"],
        stored_utc(row["changed_at"]),
    )


def _stored(address: str, channel: Channel) -> str:
    # Mail systems treat addresses without regard to case; a booking that later spells
    # the address "Jane@Example.com" is still the patient who unsubscribed.
    return address.strip().lower() if channel is Channel.EMAIL else address


def _phone_becomes_address(engine: Engine) -> None:
    # Registries made before email opt-outs keyed every row by a 20-character "phone".
    # Renaming keeps the rows and the primary key; PostgreSQL also needs the room.
    columns = {c["name"] for c in inspect(engine).get_columns(consents.name)}
    if "address" in columns:
        return
    with engine.begin() as conn:
        conn.execute(text(f"ALTER TABLE {consents.name} RENAME COLUMN phone TO address"))
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(f"ALTER TABLE {consents.name} ALTER COLUMN address TYPE VARCHAR(320)")
            )
