"""What the deliverer is given (a reminder on one channel, and where it was read) and what
it gives back: the status the streams are told, from the ledger's row."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.notifier.delivery.ledger import Delivery, Finished, Key, LedgerState
from services.notifier.exceptions import AmbiguousSendError, PermanentSendError
from services.notifier.senders.base import SendResult
from services.shared.events import Channel, DeliveryState, NotificationStatus, ReminderDue


@dataclass(frozen=True)
class Source:
    """Where a reminder was read: its partition and offset, and the dead letter it replays."""

    partition: int | None = None
    offset: int | None = None
    replay_of: str | None = None


@dataclass(frozen=True)
class Job:
    """One reminder to deliver on one channel, and where it was read."""

    reminder: ReminderDue
    channel: Channel
    source: Source = field(default_factory=Source)

    @property
    def key(self) -> Key:
        return (self.reminder.reminder_id, self.channel)


@dataclass(frozen=True)
class Outcome:
    """The status to publish and, for a permanent failure, the dead-letter reason.

    ``repeat`` marks an outcome recorded earlier and only reported again (a
    redelivered reminder): its status is published again, its dead letter not.
    """

    status: NotificationStatus
    dead_letter: str | None = None
    repeat: bool = False


def outcome_of(reminder: ReminderDue, row: Delivery, repeat: bool = False) -> Outcome:
    """What ``row`` tells the streams of ``reminder`` on its channel."""
    status = published_status(row, reminder.clinic_id, reminder.booking_id, reminder.milestone)
    failed = status.state is DeliveryState.FAILED
    return Outcome(status, f"{row.channel.value}: {row.reason}" if failed else None, repeat)


def finish_of(
    claimed: Delivery, result: SendResult | PermanentSendError | AmbiguousSendError
) -> Finished:
    """The ledger's record of a hand-over: sent, failed for good, or of unknown outcome."""
    if isinstance(result, PermanentSendError):
        return Finished(claimed, LedgerState.FAILED, result.reason)
    if isinstance(result, AmbiguousSendError):
        return Finished(claimed, LedgerState.UNKNOWN, result.reason)
    return Finished(claimed, LedgerState.SENT, None, result.provider_id)


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
