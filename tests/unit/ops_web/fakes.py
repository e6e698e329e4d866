"""Sources for the ops page held in memory: the twin of the live readers for unit tests."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from services.booking.store.queries import StoredBooking
from services.notifier.patients.replies import InboxReply
from services.notifier.queries import LedgerRow
from services.ops.kafka_state import PartitionLag
from services.ops.status import Status
from services.ops.web.broker import DeadLetterRow
from services.ops.web.shaping import DueReminder
from services.ops.web.sources import SourceDown
from services.ops.web.worker import WorkerAnswer

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)


def row(
    reminder_id: str,
    state: str,
    at: datetime,
    clinic: str = "dr-jenny",
    channel: str = "sms",
    reason: str | None = None,
) -> LedgerRow:
    return LedgerRow(reminder_id, channel, clinic, "bk-1", "pre", state, reason, 1, at, at)


def letter(letter_id: str, key: str | None, payload: str = "{}") -> DeadLetterRow:
    """A dead letter of the notifier's, about the patient ``key`` names."""
    return DeadLetterRow(
        letter_id, "notifications", "notifier", "clinic.reminders.due.v1", key, "bad", NOW, payload
    )


def due(
    reminder_id: str, at: datetime, clinic: str = "dr-jenny", channels: tuple[str, ...] = ("sms",)
) -> DueReminder:
    return DueReminder(reminder_id, clinic, "bk-1", "pre", channels, at)


@dataclass
class FakeSources:
    """Answers from its fields; a source named in ``down`` raises :class:`SourceDown`."""

    rows: list[LedgerRow] = field(default_factory=list)
    due: list[DueReminder] = field(default_factory=list)
    letters: list[DeadLetterRow] = field(default_factory=list)
    stored: list[StoredBooking] = field(default_factory=list)
    plan: WorkerAnswer = field(default_factory=lambda: WorkerAnswer(absent=True))
    plan_asked: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    reachable: bool = True
    down: set[str] = field(default_factory=set)
    lag: list[PartitionLag] = field(default_factory=list)
    outbox: int | None = None
    inbox: list[InboxReply] = field(default_factory=list)

    def _check(self, source: str) -> None:
        if source in self.down:
            raise SourceDown(source, f"{source} is down (fake)")

    def status(self) -> Status:
        return Status(
            NOW, "127.0.0.1:9", self.reachable, True, lag=self.lag, outbox_backlog=self.outbox
        )

    def ledger_since(self, since: datetime) -> list[LedgerRow]:
        self._check("delivery ledger")
        return [r for r in self.rows if r.updated_at >= since]

    def ledger_for_booking(self, booking_id: str) -> list[LedgerRow]:
        self._check("delivery ledger")
        return [r for r in self.rows if r.booking_id == booking_id]

    def bookings(self, booking_id: str) -> list[StoredBooking]:
        self._check("booking store")
        return [s for s in self.stored if s.booking.booking_id == booking_id]

    def worker_booking(
        self, booking_id: str, clinic_id: str | None = None, patient_id: str | None = None
    ) -> WorkerAnswer:
        self.plan_asked.append((booking_id, clinic_id, patient_id))
        return self.plan

    def due_reminders(self) -> list[DueReminder]:
        self._check("due topic")
        return self.due

    def dead_letters(self) -> list[DeadLetterRow]:
        self._check("dead letters")
        return self.letters

    def replies(self, clinic_id: str | None, unread_only: bool) -> list[InboxReply]:
        self._check("replies inbox")
        return [
            r
            for r in sorted(self.inbox, key=lambda r: r.received_at, reverse=True)
            if (clinic_id is None or r.clinic_id == clinic_id)
            and not (unread_only and r.handled_at)
        ]

    def unread_replies(self) -> dict[str, int]:
        self._check("replies inbox")
        counts: dict[str, int] = {}
        for r in self.inbox:
            if r.handled_at is None:
                counts[r.clinic_id] = counts.get(r.clinic_id, 0) + 1
        return counts

    def mark_reply_handled(self, message_sid: str) -> bool:
        self._check("replies inbox")
        for i, r in enumerate(self.inbox):
            if r.message_sid == message_sid:
                self.inbox[i] = replace(r, handled_at=r.handled_at or NOW)
                return True
        return False


def hours_ago(n: float) -> datetime:
    return NOW - timedelta(hours=n)
