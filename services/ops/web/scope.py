"""What a console user limited to some clinics sees: those clinics' records, nothing else.

A user in the users file may carry ``clinics: [dr-jenny]``; every page, JSON
endpoint, reveal and mark-handled then reads through :class:`ScopedSources`,
which leaves out every row of another clinic (and every row whose clinic cannot
be told, such as a dead letter that names none). The platform's health (broker,
lag, outbox, the workers' counts) is the same for everyone: it holds no clinic's
records. A user with no clinics listed sees every clinic, as before.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime

from services.booking.store.queries import StoredBooking
from services.notifier.patients.replies import InboxReply
from services.notifier.queries import LedgerRow
from services.ops.status import Status
from services.ops.web.broker import DeadLetterRow
from services.ops.web.shaping import DueReminder
from services.ops.web.sources import Sources
from services.ops.web.worker import WorkerAnswer


def scoped(sources: Sources, clinics: Collection[str]) -> Sources:
    """``sources`` as a user limited to ``clinics`` sees them (all of them when empty)."""
    return ScopedSources(sources, frozenset(clinics)) if clinics else sources


def clinic_of_letter(letter: DeadLetterRow) -> str | None:
    """The clinic a dead letter is about: its key's (``clinic:patient``), else its payload's."""
    if letter.key and ":" in letter.key:
        return letter.key.split(":", 1)[0]
    try:
        payload = json.loads(letter.payload)
    except ValueError:
        return None
    if not isinstance(payload, dict):
        return None
    data = payload.get("data")
    found = payload.get("clinic_id") or (data.get("clinic_id") if isinstance(data, dict) else None)
    return found if isinstance(found, str) else None


class ScopedSources:
    """:class:`Sources` with every other clinic's rows left out."""

    def __init__(self, inner: Sources, clinics: frozenset[str]) -> None:
        self._inner = inner
        self._clinics = clinics

    def status(self) -> Status:
        return self._inner.status()

    def ledger_since(self, since: datetime) -> list[LedgerRow]:
        return [r for r in self._inner.ledger_since(since) if r.clinic_id in self._clinics]

    def ledger_for_booking(self, booking_id: str) -> list[LedgerRow]:
        rows = self._inner.ledger_for_booking(booking_id)
        return [r for r in rows if r.clinic_id in self._clinics]

    def bookings(self, booking_id: str) -> list[StoredBooking]:
        found = self._inner.bookings(booking_id)
        return [s for s in found if s.booking.clinic_id in self._clinics]

    def worker_booking(
        self, booking_id: str, clinic_id: str | None = None, patient_id: str | None = None
    ) -> WorkerAnswer:
        if clinic_id not in self._clinics:
            return WorkerAnswer(absent=True)
        return self._inner.worker_booking(booking_id, clinic_id, patient_id)

    def due_reminders(self) -> list[DueReminder]:
        return [d for d in self._inner.due_reminders() if d.clinic_id in self._clinics]

    def dead_letters(self) -> list[DeadLetterRow]:
        letters = self._inner.dead_letters()
        return [d for d in letters if clinic_of_letter(d) in self._clinics]

    def replies(self, clinic_id: str | None, unread_only: bool) -> list[InboxReply]:
        if clinic_id is not None and clinic_id not in self._clinics:
            return []
        found = self._inner.replies(clinic_id, unread_only)
        return [r for r in found if r.clinic_id in self._clinics]

    def unread_replies(self) -> dict[str, int]:
        unread = self._inner.unread_replies()
        return {c: n for c, n in unread.items() if c in self._clinics}

    def mark_reply_handled(self, message_sid: str) -> bool:
        if not any(r.message_sid == message_sid for r in self.replies(None, False)):
            return False
        return self._inner.mark_reply_handled(message_sid)
