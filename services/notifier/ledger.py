"""The delivery ledger: one row per reminder and channel, so nothing is sent twice.

A row says ``sending`` before the provider is called and ``sent`` after. A
crash in between leaves ``sending``; the next delivery of that reminder finds
it, records ``unknown`` and does not send: never a second text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import IntegrityError

from services.shared.database import make_engine, stored_utc
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
)


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


@dataclass(frozen=True)
class TrackedDelivery:
    """A ledger row with what a status event needs to name it."""

    delivery: Delivery
    clinic_id: str
    booking_id: str
    milestone: str
    patient_id: str | None


@dataclass(frozen=True)
class Claim:
    """The answer to :meth:`DeliveryLedger.claim`: send only when ``granted``."""

    granted: bool
    delivery: Delivery


INTERRUPTED = "an earlier attempt stopped between hand-off and confirmation; not resent"


def _add_patient_id(engine: Engine) -> None:
    # Ledgers made before status callbacks lack the column that keys their status events.
    columns = {c["name"] for c in inspect(engine).get_columns(deliveries.name)}
    if "patient_id" not in columns:
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE {deliveries.name} ADD COLUMN patient_id VARCHAR(128)"))


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        row["reminder_id"],
        Channel(row["channel"]),
        LedgerState(row["state"]),
        row["attempts"],
        row["reason"],
        row["provider_id"],
        stored_utc(row["updated_at"]),
    )


class DeliveryLedger:
    """The ledger on SQLite or PostgreSQL (whatever ``url`` names); creates its table."""

    def __init__(self, url: str) -> None:
        self._engine: Engine = make_engine(url)
        metadata.create_all(self._engine)
        _add_patient_id(self._engine)

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
        return None if row is None else _delivery(row)

    def count_by_state(self) -> dict[str, int]:
        """Rows per state, e.g. ``{"sent": 12, "pending": 1}``."""
        query = select(deliveries.c.state, func.count()).group_by(deliveries.c.state)
        with self._engine.connect() as conn:
            return {state: int(count) for state, count in conn.execute(query)}

    def by_provider_id(self, provider_id: str) -> TrackedDelivery | None:
        """The row whose message the provider knows as ``provider_id``, if any."""
        query = select(deliveries).where(deliveries.c.provider_id == provider_id)
        with self._engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return TrackedDelivery(
            _delivery(row), row["clinic_id"], row["booking_id"], row["milestone"], row["patient_id"]
        )

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
        if self._insert(reminder, channel, LedgerState.SENDING, None, now) or self._move(
            rid, channel, LedgerState.PENDING, LedgerState.SENDING, now, attempt=True
        ):
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
    ) -> Delivery:
        """Record the outcome of the attempt in flight (only over ``sending``)."""
        self._move(
            reminder_id,
            channel,
            LedgerState.SENDING,
            state,
            now,
            reason=reason,
            provider_id=provider_id,
        )
        return self._must_get(reminder_id, channel)

    def _insert(
        self,
        reminder: ReminderDue,
        channel: Channel,
        state: LedgerState,
        reason: str | None,
        now: datetime,
    ) -> bool:
        row = {
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
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(deliveries).values(**row))
        except IntegrityError:
            return False
        return True

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
    ) -> bool:
        values: dict[str, object] = {"state": new.value, "updated_at": now, "reason": reason}
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
