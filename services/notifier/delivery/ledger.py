"""The delivery ledger: one row per reminder and channel, so nothing is sent twice.

A row says ``sending`` before the provider is called and ``sent`` after. A
crash in between leaves ``sending``; the next delivery of that reminder finds
it, records ``unknown`` and does not send: never a second text.

A transient failure leaves the row ``pending`` with the reminder itself, the
time of its next attempt and the last instant it is worth sending: the ledger,
not the consumer's offset, then holds the message until it goes out or stops
being useful (``retry_queue.RetryQueue``). One table, a class for each use of it
(:class:`LedgerTable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.dml import Update

from services.shared.database import create_tables, make_engine, stored_utc
from services.shared.events import Channel, ReminderDue


class LedgerState(StrEnum):
    PENDING = "pending"
    """Tried and failed transiently: nothing went out, safe to try again."""
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    """The provider reported the message reached the phone (a status callback)."""
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"


metadata = MetaData()
deliveries = Table(
    "notifier_deliveries",
    metadata,
    Column("reminder_id", String(200), primary_key=True),
    Column("channel", String(16), primary_key=True),
    Column("clinic_id", String(128), nullable=False),
    Column("booking_id", String(128), nullable=False),
    Column("patient_id", String(128)),
    Column("milestone", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("reason", Text),
    Column("provider_id", String(128), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True)),
    Column("retry_until", DateTime(timezone=True)),
    Column("payload", Text),
    Column("source_partition", Integer),
    Column("source_offset", BigInteger),
    Column("replayed_from", String(64)),
)
RETRY_INDEX = Index(
    "ix_notifier_deliveries_retry", deliveries.c.state, deliveries.c.next_attempt_at
)
ADDED_COLUMNS = {
    "patient_id": "VARCHAR(128)",
    "next_attempt_at": "TIMESTAMP",
    "retry_until": "TIMESTAMP",
    "payload": "TEXT",
    "source_partition": "INTEGER",
    "source_offset": "BIGINT",
    "replayed_from": "VARCHAR(64)",
}
"""Columns a ledger made by an earlier release lacks, added at start (see :func:`_upgrade`)."""


@dataclass(frozen=True)
class Delivery:
    """One ledger row."""

    reminder_id: str
    channel: Channel
    state: LedgerState
    attempts: int
    reason: str | None
    provider_id: str | None
    updated_at: datetime
    next_attempt_at: datetime | None = None
    retry_until: datetime | None = None
    replayed_from: str | None = None


@dataclass(frozen=True)
class Retry:
    """A ``pending`` row whose next attempt is due: the reminder and where it was read."""

    reminder_json: str
    channel: Channel
    partition: int | None
    offset: int | None
    reminder_id: str = ""


@dataclass(frozen=True)
class PlannedAttempt:
    """When a deferred delivery is tried next, until when, and where its reminder was read."""

    at: datetime
    until: datetime
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class TrackedDelivery:
    """A ledger row with what a status event needs to name it."""

    delivery: Delivery
    clinic_id: str
    booking_id: str
    milestone: str
    patient_id: str | None


Key = tuple[str, Channel]
"""A row's primary key: the reminder id and the channel."""


@dataclass(frozen=True)
class NewRow:
    """A row to open (:meth:`DeliveryLedger.open_many`): a claim (``sending``) or an outcome
    reached without sending (``skipped``, ``failed``)."""

    reminder: ReminderDue
    channel: Channel
    state: LedgerState
    reason: str | None = None

    @property
    def key(self) -> Key:
        return (self.reminder.reminder_id, self.channel)


@dataclass(frozen=True)
class Finished:
    """The outcome of an attempt in flight (:meth:`DeliveryLedger.finish_many`)."""

    claimed: Delivery
    state: LedgerState
    reason: str | None = None
    provider_id: str | None = None


@dataclass(frozen=True)
class Claim:
    """The answer to :meth:`DeliveryLedger.claim`: send only when ``granted``."""

    granted: bool
    delivery: Delivery


INTERRUPTED = "an earlier attempt stopped between hand-off and confirmation; not resent"
ERASED_BOOKING = "(erased)"
"""The booking id of an erased patient's rows: no booking can have it (not an identifier)."""


def _upgrade(engine: Engine) -> None:
    # Ledgers made before status callbacks or durable retries lack their columns.
    columns = {c["name"] for c in inspect(engine).get_columns(deliveries.name)}
    missing = [(name, kind) for name, kind in ADDED_COLUMNS.items() if name not in columns]
    with engine.begin() as conn:
        for name, kind in missing:
            if kind == "TIMESTAMP" and engine.dialect.name == "postgresql":
                kind = "TIMESTAMP WITH TIME ZONE"
            conn.execute(text(f"ALTER TABLE {deliveries.name} ADD COLUMN {name} {kind}"))
    RETRY_INDEX.create(engine, checkfirst=True)  # an existing table is not given new indexes


def delivery_of(row: RowMapping) -> Delivery:
    """A row of the table as a :class:`Delivery`."""
    return Delivery(
        row["reminder_id"],
        Channel(row["channel"]),
        LedgerState(row["state"]),
        row["attempts"],
        row["reason"],
        row["provider_id"],
        stored_utc(row["updated_at"]),
        _utc_or_none(row["next_attempt_at"]),
        _utc_or_none(row["retry_until"]),
        row["replayed_from"],
    )


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else stored_utc(value)


class LedgerTable:
    """The ledger's table on SQLite or PostgreSQL: ``where`` is a URL (the table is created
    if missing) or the engine of another view of the same table. What each view does
    with it is its own class: :class:`DeliveryLedger` (claims and outcomes),
    :class:`~services.notifier.delivery.retry_queue.RetryQueue` (rows waiting for a retry),
    :class:`~services.notifier.delivery.ledger_reads.LedgerReads` (what the views read),
    :class:`~services.notifier.privacy.ledger_erasure.LedgerErasure` (an erasure)."""

    def __init__(self, where: str | Engine) -> None:
        if isinstance(where, Engine):
            self._engine = where
            return
        self._engine = make_engine(where)
        create_tables(metadata, self._engine)
        _upgrade(self._engine)

    @property
    def engine(self) -> Engine:
        """Shared by every view of the table opened over it."""
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def ping(self) -> None:
        """Raise the database's error if it cannot be reached."""
        with self._engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def get(self, reminder_id: str, channel: Channel) -> Delivery | None:
        query = select(deliveries).where(
            deliveries.c.reminder_id == reminder_id, deliveries.c.channel == channel.value
        )
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else delivery_of(row)

    def get_many(self, keys: Iterable[Key]) -> dict[Key, Delivery]:
        """The rows of ``keys`` that exist, by key: one read for a whole batch."""
        wanted = set(keys)
        ids = sorted({reminder_id for reminder_id, _ in wanted})
        found: dict[Key, Delivery] = {}
        with self._engine.connect() as conn:
            for chunk in _chunks(ids):
                query = select(deliveries).where(deliveries.c.reminder_id.in_(chunk))
                for row in conn.execute(query).mappings():
                    delivery = delivery_of(row)
                    if (delivery.reminder_id, delivery.channel) in wanted:
                        found[(delivery.reminder_id, delivery.channel)] = delivery
        return found

    def _move(
        self,
        reminder_id: str,
        channel: Channel,
        old: LedgerState,
        new: LedgerState,
        now: datetime,
        *,
        attempt: bool = False,
        reason: str | None = None,
        provider_id: str | None = None,
        extra: dict[str, object] | None = None,
    ) -> bool:
        values: dict[str, object] = {"state": new.value, "updated_at": now, "reason": reason}
        values.update(extra or {})
        if provider_id is not None:
            values["provider_id"] = provider_id
        if attempt:
            values["attempts"] = deliveries.c.attempts + 1
        query = (
            update(deliveries)
            .values(**values)
            .where(
                deliveries.c.reminder_id == reminder_id,
                deliveries.c.channel == channel.value,
                deliveries.c.state == old.value,
            )
        )
        with self._engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def _must_get(self, reminder_id: str, channel: Channel) -> Delivery:
        found = self.get(reminder_id, channel)
        if found is None:
            raise LookupError(f"no ledger row for {reminder_id}/{channel.value}")
        return found


class DeliveryLedger(LedgerTable):
    """Claims and outcomes: a row per reminder and channel, ``sending`` before the provider is
    called, its outcome after."""

    def open_many(self, rows: Sequence[NewRow], now: datetime) -> dict[Key, Delivery]:
        """Insert each row that does not exist yet, in one transaction; return those written.

        A key missing from the answer already had a row (another notifier, or an
        earlier copy of the reminder, got there first): look at it before acting.
        A ``sending`` row written here is a granted claim.
        """
        if not rows:
            return {}
        values = [new_row(row.reminder, row.channel, row.state, row.reason, now) for row in rows]
        with self._engine.begin() as conn:
            written = _insert_new_rows(conn, values)
        return {
            row.key: Delivery(
                row.reminder.reminder_id,
                row.channel,
                row.state,
                1 if row.state is LedgerState.SENDING else 0,
                row.reason,
                None,
                now,
            )
            for row in rows
            if row.key in written
        }

    def finish_many(self, finished: Sequence[Finished], now: datetime) -> dict[Key, Delivery]:
        """Record the outcomes of attempts in flight (only over ``sending``) in one
        transaction; return every row as it now stands."""
        if not finished:
            return {}
        params: list[dict[str, object]] = [
            {
                "rid": f.claimed.reminder_id,
                "ch": f.claimed.channel.value,
                "new_state": f.state.value,
                "now": now,
                "new_reason": f.reason,
                "new_provider": f.provider_id,
            }
            for f in finished
        ]
        with self._engine.begin() as conn:
            moved = _finish_rows(conn, params)
        rows = {
            (f.claimed.reminder_id, f.claimed.channel): replace(
                f.claimed,
                state=f.state,
                reason=f.reason,
                provider_id=f.provider_id if f.provider_id is not None else f.claimed.provider_id,
                updated_at=now,
            )
            for f in finished
        }
        if not moved:  # some row changed under the attempt (an erasure): read them as they are
            rows.update(self.get_many(rows))
        return rows

    def settle(
        self, provider_id: str, state: LedgerState, now: datetime, reason: str | None = None
    ) -> bool:
        """Record the provider's final word on a ``sent`` message; False if it was not ``sent``.

        A repeated or late callback (the row already delivered or failed) changes nothing.
        """
        query = (
            update(deliveries)
            .values(state=state.value, updated_at=now, reason=reason)
            .where(
                deliveries.c.provider_id == provider_id,
                deliveries.c.state == LedgerState.SENT.value,
            )
        )
        with self._engine.begin() as conn:
            return conn.execute(query).rowcount >= 1

    def claim(self, reminder: ReminderDue, channel: Channel, now: datetime) -> Claim:
        """Mark the delivery ``sending`` if nothing went out yet.

        Only a granted claim may send. A row already ``sending`` (an earlier
        attempt stopped mid-send) becomes ``unknown``; any other existing row is
        returned as it stands. Safe against a concurrent claim of the same row.
        """
        rid = reminder.reminder_id
        if self._insert(reminder, channel, LedgerState.SENDING, None, now):
            # A new row holds just what was written: no need to read it back.
            return Claim(True, Delivery(rid, channel, LedgerState.SENDING, 1, None, None, now))
        if self._move(rid, channel, LedgerState.PENDING, LedgerState.SENDING, now, attempt=True):
            return Claim(True, self._must_get(rid, channel))
        self._move(rid, channel, LedgerState.SENDING, LedgerState.UNKNOWN, now, reason=INTERRUPTED)
        return Claim(False, self._must_get(rid, channel))

    def record(
        self,
        reminder: ReminderDue,
        channel: Channel,
        state: LedgerState,
        reason: str,
        now: datetime,
    ) -> Delivery:
        """Record an outcome reached without sending (skipped, or a template that fails).

        A row waiting for a retry (``pending``: nothing went out) takes the new
        outcome; any other existing row is left as it is. Returns the row as it
        now stands.
        """
        if not self._insert(reminder, channel, state, reason, now):
            self._move(
                reminder.reminder_id, channel, LedgerState.PENDING, state, now, reason=reason
            )
        return self._must_get(reminder.reminder_id, channel)

    def finish(
        self,
        reminder_id: str,
        channel: Channel,
        state: LedgerState,
        now: datetime,
        reason: str | None = None,
        provider_id: str | None = None,
        claimed: Delivery | None = None,
    ) -> Delivery:
        """Record the outcome of the attempt in flight (only over ``sending``).

        With the row as ``claimed``, the row is not read back when the change took.
        """
        moved = self._move(
            reminder_id,
            channel,
            LedgerState.SENDING,
            state,
            now,
            reason=reason,
            provider_id=provider_id,
        )
        if moved and claimed is not None:
            kept = provider_id if provider_id is not None else claimed.provider_id
            return replace(claimed, state=state, reason=reason, provider_id=kept, updated_at=now)
        return self._must_get(reminder_id, channel)

    def defer(
        self,
        reminder: ReminderDue,
        channel: Channel,
        reason: str,
        now: datetime,
        attempt: PlannedAttempt,
    ) -> Delivery:
        """Keep the attempt in flight for another try (``sending`` -> ``pending``).

        The row keeps the reminder, so that it is retried (``RetryQueue.due_retries``)
        after the consumer moved on and across restarts.
        """
        self._move(
            reminder.reminder_id,
            channel,
            LedgerState.SENDING,
            LedgerState.PENDING,
            now,
            reason=reason,
            extra={
                "next_attempt_at": attempt.at,
                "retry_until": attempt.until,
                "payload": reminder.model_dump_json(),
                "source_partition": attempt.partition,
                "source_offset": attempt.offset,
            },
        )
        return self._must_get(reminder.reminder_id, channel)

    def record_dropped(
        self, reminder: ReminderDue, channel: Channel, reason: str, now: datetime
    ) -> None:
        """Record a reminder of an erased patient dropped on its way, as :meth:`anonymise`
        leaves their rows: skipped with ``reason``, no booking, no patient. A row already
        there is left as it is."""
        row = {
            "reminder_id": reminder.reminder_id,
            "channel": channel.value,
            "clinic_id": reminder.clinic_id,
            "booking_id": ERASED_BOOKING,
            "milestone": reminder.milestone,
            "state": LedgerState.SKIPPED.value,
            "attempts": 0,
            "reason": reason,
            "created_at": now,
            "updated_at": now,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(deliveries).values(**row))
        except IntegrityError:
            pass

    def _insert(
        self,
        reminder: ReminderDue,
        channel: Channel,
        state: LedgerState,
        reason: str | None,
        now: datetime,
    ) -> bool:
        row = new_row(reminder, channel, state, reason, now)
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(deliveries).values(**row))
        except IntegrityError:
            return False
        return True


def new_row(
    reminder: ReminderDue, channel: Channel, state: LedgerState, reason: str | None, now: datetime
) -> dict[str, object]:
    """A ledger row as first written (the I/O floor in ``bench/`` writes the same)."""
    return {
        "reminder_id": reminder.reminder_id,
        "channel": channel.value,
        "clinic_id": reminder.clinic_id,
        "booking_id": reminder.booking_id,
        "patient_id": reminder.patient.id,
        "milestone": reminder.milestone,
        "state": state.value,
        "attempts": 1 if state is LedgerState.SENDING else 0,
        "reason": reason,
        "created_at": now,
        "updated_at": now,
    }


def _insert_new(engine: Engine) -> sqlite.Insert | postgresql.Insert:
    """An insert that skips a row whose key exists (both databases say so in their own words)."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(deliveries).on_conflict_do_nothing()
    return sqlite.insert(deliveries).on_conflict_do_nothing()


def _insert_new_rows(conn: Connection, values: list[dict[str, object]]) -> set[Key]:
    """Insert the rows whose key does not exist yet; the keys written.

    On PostgreSQL the rows go as one array per column (``unnest``): one short statement,
    parsed and planned once, where a multi-row VALUES list was a new statement of
    thousands of parameters for every batch, which the driver parsed afresh each time
    (a fifth of the notifier's time, docs/benchmarks.md).
    """
    keys = (deliveries.c.reminder_id, deliveries.c.channel)
    if conn.dialect.name != "postgresql":
        written = conn.execute(_insert_new(conn.engine).returning(*keys), values)
        return {(rid, Channel(ch)) for rid, ch in written.tuples()}
    names = list(values[0])
    arrays = tuple([row[name] for row in values] for name in names)
    kinds = [deliveries.c[name].type.compile(dialect=conn.dialect) for name in names]
    sql = (
        f"INSERT INTO {deliveries.name} ({', '.join(names)})"
        f" SELECT * FROM unnest({', '.join(f'%s::{kind}[]' for kind in kinds)})"
        " ON CONFLICT DO NOTHING RETURNING reminder_id, channel"
    )
    return {(rid, Channel(ch)) for rid, ch in conn.exec_driver_sql(sql, arrays).tuples()}


def _finish_rows(conn: Connection, params: list[dict[str, object]]) -> bool:
    """:meth:`DeliveryLedger.finish_many`'s update; True when every row was still ``sending``.

    On PostgreSQL the outcomes go as one array per field, joined to the rows in one
    statement (see :func:`_insert_new_rows`); elsewhere one ``executemany``.
    """
    if conn.dialect.name != "postgresql":
        query = (
            update(deliveries)
            .where(
                deliveries.c.reminder_id == bindparam("rid"),
                deliveries.c.channel == bindparam("ch"),
                deliveries.c.state == LedgerState.SENDING.value,
            )
            .values(
                state=bindparam("new_state"),
                updated_at=bindparam("now"),
                reason=bindparam("new_reason"),
                provider_id=func.coalesce(bindparam("new_provider"), deliveries.c.provider_id),
            )
        )
        return _moved_each(conn, query, params)
    c = deliveries.c
    fields = {"rid": c.reminder_id, "ch": c.channel, "new_state": c.state}
    fields |= {"new_reason": c.reason, "new_provider": c.provider_id}
    arrays = [[p[name] for p in params] for name in fields]
    kinds = [column.type.compile(dialect=conn.dialect) for column in fields.values()]
    sql = (
        f"UPDATE {deliveries.name} AS d SET state = u.new_state, updated_at = %s,"
        " reason = u.new_reason, provider_id = COALESCE(u.new_provider, d.provider_id)"
        f" FROM unnest({', '.join(f'%s::{kind}[]' for kind in kinds)})"
        f" AS u({', '.join(fields)})"
        " WHERE d.reminder_id = u.rid AND d.channel = u.ch AND d.state = %s"
    )
    now = params[0]["now"]
    moved = conn.exec_driver_sql(sql, (now, *arrays, LedgerState.SENDING.value)).rowcount
    return moved == len(params)


def _moved_each(conn: Connection, query: Update, params: list[dict[str, object]]) -> bool:
    """Run ``query`` once per parameter set; True when every run changed its row.

    One ``executemany`` where the driver counts its rows truly, else one run each.
    """
    if conn.dialect.supports_sane_multi_rowcount:
        return conn.execute(query, params).rowcount == len(params)
    return all([conn.execute(query, one).rowcount == 1 for one in params])


def _chunks(items: list[str], size: int = 500) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
