"""Where the page's numbers come from, behind one small interface, and the live readers.

Every reader is read-only. A source that is missing or down raises
:class:`SourceDown` naming itself and why; the page shows that and carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, TypeVar

from kafka.errors import KafkaError

from services.booking.store.queries import StoredBooking
from services.notifier.patients.replies import InboxReply
from services.notifier.queries import LedgerRow
from services.ops.kafka_io import BrokerUnavailable, TopicNotFound
from services.ops.settings import OpsSettings
from services.ops.status import Status, collect
from services.ops.stores import StoreUnavailable
from services.ops.web import broker, stores
from services.ops.web.broker import DeadLetterRow
from services.ops.web.shaping import DueReminder
from services.ops.web.worker import WorkerAnswer, WorkerViews
from services.ops.worker_registry import worker_addresses
from services.shared.clock import Clock

T = TypeVar("T")
INBOX = "replies inbox"


class SourceDown(RuntimeError):
    """A source could not be read; ``source`` names it (ledger, bookings, broker, worker)."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class Sources(Protocol):
    """What the page reads. Each call blocks on its source for a few seconds at most."""

    def status(self) -> Status:
        """Broker, topics, consumer lag, outbox and worker counts; never raises."""
        ...

    def ledger_since(self, since: datetime) -> list[LedgerRow]: ...

    def ledger_for_booking(self, booking_id: str) -> list[LedgerRow]: ...

    def bookings(self, booking_id: str) -> list[StoredBooking]: ...

    def worker_booking(
        self, booking_id: str, clinic_id: str | None = None, patient_id: str | None = None
    ) -> WorkerAnswer: ...

    def due_reminders(self) -> list[DueReminder]: ...

    def dead_letters(self) -> list[DeadLetterRow]: ...

    def replies(self, clinic_id: str | None, unread_only: bool) -> list[InboxReply]: ...

    def unread_replies(self) -> dict[str, int]: ...

    def mark_reply_handled(self, message_sid: str) -> bool:
        """Mark one reply handled now; False if there is no such reply."""
        ...


class LiveSources:
    """The platform's own stores, broker and worker, as ``settings`` locate them."""

    def __init__(self, settings: OpsSettings, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._worker = WorkerViews(
            lambda: worker_addresses(settings), lambda: settings.worker_token
        )

    def status(self) -> Status:
        groups = [self._settings.consumer_group, self._settings.reminders_group]
        return collect(self._settings, self._clock, groups)

    def ledger_since(self, since: datetime) -> list[LedgerRow]:
        return _guard("delivery ledger", lambda: stores.ledger_since(self._ledger, since))

    def ledger_for_booking(self, booking_id: str) -> list[LedgerRow]:
        return _guard(
            "delivery ledger", lambda: stores.ledger_for_booking(self._ledger, booking_id)
        )

    def bookings(self, booking_id: str) -> list[StoredBooking]:
        url = self._settings.booking_url
        return _guard("booking store", lambda: stores.stored_bookings(url, booking_id))

    def worker_booking(
        self, booking_id: str, clinic_id: str | None = None, patient_id: str | None = None
    ) -> WorkerAnswer:
        return self._worker.booking(booking_id, clinic_id, patient_id)

    def due_reminders(self) -> list[DueReminder]:
        s = self._settings
        return _guard("due topic", lambda: broker.due_reminders(s.kafka, s.topics))

    def dead_letters(self) -> list[DeadLetterRow]:
        s = self._settings
        return _guard(
            "dead letters",
            lambda: broker.dead_letters(s.kafka, s.topics, s.erasure_keys),
        )

    def replies(self, clinic_id: str | None, unread_only: bool) -> list[InboxReply]:
        return _guard(INBOX, lambda: stores.replies(self._ledger, clinic_id, unread_only))

    def unread_replies(self) -> dict[str, int]:
        return _guard(INBOX, lambda: stores.unread_replies(self._ledger))

    def mark_reply_handled(self, message_sid: str) -> bool:
        now = self._clock.now()
        return _guard(INBOX, lambda: stores.mark_reply_handled(self._ledger, message_sid, now))

    @property
    def _ledger(self) -> str:
        return self._settings.ledger_url


def _guard(source: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except (StoreUnavailable, BrokerUnavailable, TopicNotFound) as exc:
        raise SourceDown(source, str(exc)) from exc
    except KafkaError as exc:
        raise SourceDown(source, f"broker answered but could not be read: {exc}") from exc
