"""One reminder on one channel: consent, ledger, render, send, record; Kafka-free.

:class:`Deliverer` returns what became of each channel; the consumer loop
publishes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from services.notifier.consent import recipient
from services.notifier.currency import SeenBooking, moot_reason
from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    TemplateRenderError,
)
from services.notifier.ledger import Delivery, DeliveryLedger, LedgerState, PlannedAttempt, Retry
from services.notifier.registry import ConsentRecord
from services.notifier.rendering import RenderedMessage, TemplateRenderer
from services.notifier.retry import RetryPolicy
from services.notifier.senders.base import EmailSender, SendResult, SmsSender
from services.shared.clock import Clock
from services.shared.erasure import ERASED, ErasedPatients
from services.shared.events import Channel, DeliveryState, NotificationStatus, ReminderDue
from services.shared.lateness import MISSED, no_longer_useful


@dataclass(frozen=True)
class Outcome:
    """The status to publish and, for a permanent failure, the dead-letter reason.

    ``repeat`` marks an outcome recorded earlier and only reported again (a
    redelivered reminder): its status is published again, its dead letter not.
    """

    status: NotificationStatus
    dead_letter: str | None = None
    repeat: bool = False


class Bookings(Protocol):
    """The notifier's record of each booking's latest state (see :mod:`bookings_seen`)."""

    def latest(self, clinic_id: str, booking_id: str) -> SeenBooking | None: ...


class OptOuts(Protocol):
    """The consent registry as delivery reads it (see :mod:`registry`)."""

    def opted_out(self, address: str, clinic_id: str, channel: Channel) -> ConsentRecord | None: ...


@dataclass(frozen=True)
class Source:
    """Where a reminder was read: its partition and offset, and the dead letter it replays."""

    partition: int | None = None
    offset: int | None = None
    replay_of: str | None = None


@dataclass(frozen=True)
class Senders:
    sms: SmsSender
    email: EmailSender


class Deliverer:
    """Delivers one reminder on one channel at most once (see :mod:`ledger`).

    One call makes at most one attempt: a transient failure is deferred in the
    ledger (``retrying``), and :meth:`due_retries` hands it back when its next
    attempt is due, until it is no longer useful (see :class:`RetryPolicy`).
    """

    def __init__(
        self,
        ledger: DeliveryLedger,
        renderer: TemplateRenderer,
        senders: Senders,
        clock: Clock,
        retries: RetryPolicy,
        opt_outs: OptOuts | None = None,
        bookings: Bookings | None = None,
        erased: ErasedPatients | None = None,
    ) -> None:
        self._erased = erased
        self._ledger = ledger
        self._bookings = bookings
        self._opt_outs = opt_outs
        self._renderer = renderer
        self._senders = senders
        self._clock = clock
        self._retries = retries

    def deliver(
        self, reminder: ReminderDue, channel: Channel, source: Source | None = None
    ) -> Outcome:
        """Send ``reminder`` on ``channel`` unless the ledger says it already has an outcome.

        ``source`` says where the reminder was read: kept with a deferred retry,
        and a replayed dead letter (``source.replay_of``) may try a failed
        delivery once more.
        """
        source = source or Source()
        if source.replay_of:
            self._ledger.reopen(reminder.reminder_id, channel, source.replay_of, self._now())
        known = self._ledger.get(reminder.reminder_id, channel)
        if known is not None and known.state not in (LedgerState.PENDING, LedgerState.SENDING):
            return self._outcome(reminder, known, repeat=True)
        if known is not None and known.state is LedgerState.PENDING:
            if known.next_attempt_at is not None and known.next_attempt_at > self._now():
                return self._outcome(reminder, known, repeat=True)  # not due again yet
            if known.retry_until is not None and self._now() >= known.retry_until:
                return self._give_up(reminder, known)
        if reason := self._reason_to_skip(reminder, channel):
            row = self._ledger.record(reminder, channel, LedgerState.SKIPPED, reason, self._now())
            return self._outcome(reminder, row)
        try:
            message = self._renderer.render(reminder, channel)
        except TemplateRenderError as exc:
            row = self._ledger.record(reminder, channel, LedgerState.FAILED, str(exc), self._now())
            return self._outcome(reminder, row)
        return self._send(reminder, channel, message, source)

    def dropped(self, reminder: ReminderDue) -> str | None:
        """Why ``reminder`` must be dropped, or None: its patient was erased after it was made,
        or its booking was an erased patient's.

        A dropped reminder is not delivered, its status is not published (it would
        name the booking), and its ledger row names neither booking nor patient
        (:meth:`drop`).
        """
        erased = self._erased
        if erased is None:
            return None
        if erased.covers(reminder.clinic_id, reminder.patient.id, reminder.emitted_at):
            return ERASED
        return ERASED if erased.booking_erased(reminder.clinic_id, reminder.booking_id) else None

    def drop(self, reminder: ReminderDue, channel: Channel, reason: str) -> None:
        """Record ``reminder`` on ``channel`` as dropped, for the counts (see :meth:`dropped`)."""
        self._ledger.record_dropped(reminder, channel, reason, self._now())

    def due_retries(self, limit: int = 50) -> list[Retry]:
        """Deferred deliveries whose next attempt is due now, soonest first."""
        return self._ledger.due_retries(self._now(), limit)

    def fail_unreadable(self, retry: Retry, reason: str) -> None:
        """A deferred delivery whose kept reminder no longer reads: failed, with ``reason``."""
        self._ledger.fail_pending(retry, f"kept reminder unreadable: {reason}", self._now())

    def close_interrupted(self, before: datetime) -> list[tuple[ReminderDue, Outcome]]:
        """Retries a stopped notifier left mid-send: recorded unknown, never resent."""
        closed = self._ledger.interrupted_retries(before, self._now())
        return [
            (reminder, self._outcome(reminder, row))
            for payload, row in closed
            for reminder in [ReminderDue.model_validate_json(payload)]
        ]

    def postpone(self, reminder: ReminderDue, channel: Channel, until: datetime) -> None:
        """Hold a deferred delivery until ``until`` (its clinic's quiet hours end then)."""
        self._ledger.postpone(reminder.reminder_id, channel, until)

    def _reason_to_skip(self, reminder: ReminderDue, channel: Channel) -> str | None:
        if moot := self._moot(reminder):
            return moot
        if reminder.stale_at is not None and self._now() >= reminder.stale_at:
            if reminder.catch_up:
                return no_longer_useful(MISSED, reminder.due_at, reminder.stale_at)
            return f"stale since {reminder.stale_at.isoformat()}"
        found = recipient(reminder.patient, channel)
        if found.reason or self._opt_outs is None:
            return found.reason
        # The registry overrides the booking's consent: the patient's own word is the latest.
        withdrawn = self._opt_outs.opted_out(found.address or "", reminder.clinic_id, channel)
        return None if withdrawn is None else withdrawal_reason(withdrawn)

    def _send(
        self, reminder: ReminderDue, channel: Channel, message: RenderedMessage, source: Source
    ) -> Outcome:
        to = recipient(reminder.patient, channel).address or ""
        claim = self._ledger.claim(reminder, channel, self._now())
        if not claim.granted:
            return self._outcome(reminder, claim.delivery)
        try:
            result = self._hand_over(to, message, reminder)
        except RetryableSendError as exc:
            return self._defer(reminder, claim.delivery, exc, source)
        except PermanentSendError as exc:
            return self._finish(reminder, claim.delivery, LedgerState.FAILED, exc.reason)
        except AmbiguousSendError as exc:
            return self._finish(reminder, claim.delivery, LedgerState.UNKNOWN, exc.reason)
        return self._finish(reminder, claim.delivery, LedgerState.SENT, None, result.provider_id)

    def _defer(
        self,
        reminder: ReminderDue,
        claimed: Delivery,
        exc: RetryableSendError,
        source: Source,
    ) -> Outcome:
        channel, attempts = claimed.channel, claimed.attempts
        now = self._now()
        at = self._retries.next_attempt(reminder, attempts, now, exc.retry_after)
        if at is None:
            until = self._retries.useful_until(reminder).isoformat()
            reason = f"gave up after {attempts} attempts, of no use after {until}: {exc.reason}"
            return self._finish(reminder, claimed, LedgerState.FAILED, reason)
        attempt = PlannedAttempt(
            at, self._retries.useful_until(reminder), source.partition, source.offset
        )
        row = self._ledger.defer(reminder, channel, exc.reason, now, attempt)
        return self._outcome(reminder, row)

    def _give_up(self, reminder: ReminderDue, known: Delivery) -> Outcome:
        until = known.retry_until.isoformat() if known.retry_until else "now"
        reason = f"gave up after {known.attempts} attempts, of no use after {until}: {known.reason}"
        row = self._ledger.record(reminder, known.channel, LedgerState.FAILED, reason, self._now())
        return self._outcome(reminder, row)

    def _moot(self, reminder: ReminderDue) -> str | None:
        if self._bookings is None:
            return None
        return moot_reason(reminder, self._bookings.latest(reminder.clinic_id, reminder.booking_id))

    def _hand_over(self, to: str, message: RenderedMessage, reminder: ReminderDue) -> SendResult:
        if message.channel is Channel.SMS:
            return self._senders.sms.send(to, message.text, reminder)
        return self._senders.email.send(
            to, message.subject or "", message.text, message.html, reminder, message.headers
        )

    def _finish(
        self,
        reminder: ReminderDue,
        claimed: Delivery,
        state: LedgerState,
        reason: str | None,
        provider_id: str | None = None,
    ) -> Outcome:
        row = self._ledger.finish(
            reminder.reminder_id,
            claimed.channel,
            state,
            self._now(),
            reason,
            provider_id,
            claimed=claimed,
        )
        return self._outcome(reminder, row)

    def _outcome(self, reminder: ReminderDue, row: Delivery, repeat: bool = False) -> Outcome:
        status = published_status(row, reminder.clinic_id, reminder.booking_id, reminder.milestone)
        failed = status.state is DeliveryState.FAILED
        return Outcome(status, f"{row.channel.value}: {row.reason}" if failed else None, repeat)

    def _now(self) -> datetime:
        return self._clock.now()


def withdrawal_reason(withdrawn: ConsentRecord) -> str:
    """Why a delivery is skipped: the patient's own opt-out, by SMS keyword or email link."""
    at = withdrawn.changed_at.isoformat()
    if withdrawn.channel is Channel.EMAIL:
        return f"opted out of email by its unsubscribe link at {at}"
    return f"opted out by SMS {withdrawn.keyword or 'STOP'} at {at}"


def published_status(
    row: Delivery, clinic_id: str, booking_id: str, milestone: str
) -> NotificationStatus:
    """The status event that tells the streams what a ledger row says of one delivery."""
    reason = row.reason
    if row.state is LedgerState.PENDING and row.next_attempt_at is not None:
        when = row.next_attempt_at.isoformat()
        reason = f"attempt {row.attempts} failed: {row.reason}; next attempt at {when}"
    return NotificationStatus(
        reminder_id=row.reminder_id,
        clinic_id=clinic_id,
        booking_id=booking_id,
        milestone=milestone,
        channel=row.channel,
        state=PUBLISHED_STATE.get(row.state, DeliveryState.UNKNOWN),
        reason=reason,
        provider_id=row.provider_id,
        occurred_at=row.updated_at,
    )


PUBLISHED_STATE = {
    LedgerState.SENT: DeliveryState.SENT,
    LedgerState.DELIVERED: DeliveryState.DELIVERED,
    LedgerState.FAILED: DeliveryState.FAILED,
    LedgerState.SKIPPED: DeliveryState.SKIPPED,
    LedgerState.UNKNOWN: DeliveryState.UNKNOWN,
    LedgerState.PENDING: DeliveryState.RETRYING,
}
