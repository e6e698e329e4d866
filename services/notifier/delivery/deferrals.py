"""Deliveries a provider asked to try later: deferred with their next try, given up once of
no use, and found again when due (the ledger's ``pending`` rows, see :mod:`retry_queue`)."""

from __future__ import annotations

from datetime import datetime

from services.notifier.delivery.jobs import Outcome, Source, outcome_of
from services.notifier.delivery.ledger import (
    Delivery,
    DeliveryLedger,
    LedgerState,
    PlannedAttempt,
    Retry,
)
from services.notifier.delivery.retry import RetryPolicy
from services.notifier.delivery.retry_queue import RetryQueue
from services.notifier.exceptions import RetryableSendError
from services.shared.clock import Clock
from services.shared.events import Channel, ReminderDue


class Deferrals:
    """When a deferred delivery is tried again, and when it is given up (:class:`RetryPolicy`)."""

    def __init__(self, ledger: DeliveryLedger, policy: RetryPolicy, clock: Clock) -> None:
        self._ledger = ledger
        self._queue = RetryQueue(ledger.engine)
        self._policy = policy
        self._clock = clock

    def defer(
        self, reminder: ReminderDue, claimed: Delivery, exc: RetryableSendError, source: Source
    ) -> Delivery:
        """Keep a claimed delivery the provider refused for now for its next try, or fail it
        if no try is left of use; the row it came to."""
        now = self._clock.now()
        at = self._policy.next_attempt(reminder, claimed.attempts, now, exc.retry_after)
        until = self._policy.useful_until(reminder)
        if at is None:
            reason = (
                f"gave up after {claimed.attempts} attempts, of no use after"
                f" {until.isoformat()}: {exc.reason}"
            )
            return self._ledger.finish(
                claimed.reminder_id,
                claimed.channel,
                LedgerState.FAILED,
                now,
                reason,
                claimed=claimed,
            )
        attempt = PlannedAttempt(at, until, source.partition, source.offset)
        return self._ledger.defer(reminder, claimed.channel, exc.reason, now, attempt)

    def give_up(self, reminder: ReminderDue, known: Delivery) -> Delivery:
        """Fail a retry taken up only after its last useful moment (the notifier was
        stopped, or behind), saying when its next try was due and when it came."""
        now = self._clock.now()
        until = known.retry_until.isoformat() if known.retry_until else "now"
        due = known.next_attempt_at.isoformat() if known.next_attempt_at else "at once"
        reason = (
            f"gave up after {known.attempts} attempts, of no use after {until}: {known.reason};"
            f" its next try, due {due}, was taken up only at {now.isoformat()}"
        )
        return self._ledger.record(reminder, known.channel, LedgerState.FAILED, reason, now)

    def due(self, limit: int = 50) -> list[Retry]:
        """Deferred deliveries whose next attempt is due now, those of use for the least
        time first (see :meth:`RetryQueue.due_retries`)."""
        return self._queue.due_retries(self._clock.now(), limit)

    def reopen(self, reminder_id: str, channel: Channel, replay_of: str) -> None:
        """Let a failed delivery be tried once more: its dead letter ``replay_of`` is replayed."""
        self._queue.reopen(reminder_id, channel, replay_of, self._clock.now())

    def fail_unreadable(self, retry: Retry, reason: str) -> None:
        """A deferred delivery whose kept reminder no longer reads: failed, with ``reason``."""
        self._queue.fail_pending(retry, f"kept reminder unreadable: {reason}", self._clock.now())

    def close_interrupted(self, before: datetime) -> list[tuple[ReminderDue, Outcome]]:
        """Retries a stopped notifier left mid-send: recorded unknown, never resent."""
        closed = self._queue.interrupted_retries(before, self._clock.now())
        return [
            (reminder, outcome_of(reminder, row))
            for payload, row in closed
            for reminder in [ReminderDue.model_validate_json(payload)]
        ]

    def postpone(self, reminder: ReminderDue, channel: Channel, until: datetime) -> None:
        """Hold a deferred delivery until ``until`` (its clinic's quiet hours end then)."""
        self._queue.postpone(reminder.reminder_id, channel, until)
