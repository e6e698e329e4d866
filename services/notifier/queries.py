"""The delivery ledger's read side, for tools that look without changing (the ops console,
``clinic-reminders status``): queries on a connection the caller opens.

The replies inbox has its own (:mod:`services.notifier.patients.replies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from services.notifier.delivery.ledger import LedgerState, deliveries
from services.shared.database import stored_utc


@dataclass(frozen=True)
class LedgerRow:
    """One delivery-ledger row: one reminder on one channel."""

    reminder_id: str
    channel: str
    clinic_id: str
    booking_id: str
    milestone: str
    state: str
    reason: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class DeliveryCounts:
    """Ledger rows by state then channel, over all time and since ``since``."""

    since: datetime
    all: dict[str, dict[str, int]] = field(default_factory=dict)
    recent: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: list[tuple[str, str, int]] = field(default_factory=list)
    """(channel, reason, count) of failed rows updated since ``since``, most first."""


def delivery_counts(conn: Connection, since: datetime) -> DeliveryCounts:
    """Ledger rows counted by state and channel, and the recent failures by reason."""
    counts = DeliveryCounts(since)
    by = (deliveries.c.state, deliveries.c.channel)
    for state, channel, n in conn.execute(select(*by, func.count()).group_by(*by)):
        counts.all.setdefault(state, {})[channel] = n
    recent = select(*by, func.count()).where(deliveries.c.updated_at >= since).group_by(*by)
    for state, channel, n in conn.execute(recent):
        counts.recent.setdefault(state, {})[channel] = n
    failed = (
        select(deliveries.c.channel, deliveries.c.reason, func.count())
        .where(deliveries.c.state == LedgerState.FAILED.value, deliveries.c.updated_at >= since)
        .group_by(deliveries.c.channel, deliveries.c.reason)
        .order_by(func.count().desc())
    )
    counts.failures.extend((c, r or "(no reason)", n) for c, r, n in conn.execute(failed))
    return counts


def ledger_since(conn: Connection, since: datetime, limit: int = 50_000) -> list[LedgerRow]:
    """Ledger rows changed at or after ``since``."""
    return _rows(conn, select(deliveries).where(deliveries.c.updated_at >= since).limit(limit))


def ledger_for_booking(conn: Connection, booking_id: str) -> list[LedgerRow]:
    """Every ledger row of ``booking_id``, oldest first."""
    query = (
        select(deliveries)
        .where(deliveries.c.booking_id == booking_id)
        .order_by(deliveries.c.created_at, deliveries.c.reminder_id, deliveries.c.channel)
    )
    return _rows(conn, query)


def _rows(conn: Connection, query: Select[Any]) -> list[LedgerRow]:
    return [
        LedgerRow(
            r["reminder_id"],
            r["channel"],
            r["clinic_id"],
            r["booking_id"],
            r["milestone"],
            r["state"],
            r["reason"],
            r["attempts"],
            stored_utc(r["created_at"]),
            stored_utc(r["updated_at"]),
        )
        for r in conn.execute(query).mappings()
    ]
