"""One reminder on one channel: consent, ledger, render, send, record; Kafka-free.

:class:`Deliverer` returns what became of each channel; the consumer loop
publishes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from services.notifier.bookings.currency import SeenBooking, moot_reason
from services.notifier.bookings.seen import BookingKey
from services.notifier.delivery.ledger import (
    Delivery,
    DeliveryLedger,
    Finished,
    Key,
    LedgerState,
    NewRow,
    PlannedAttempt,
    Retry,
)
from services.notifier.delivery.retry import RetryPolicy
from services.notifier.delivery.retry_queue import RetryQueue
from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    TemplateRenderError,
)
from services.notifier.messages.rendering import RenderedMessage, TemplateRenderer
from services.notifier.patients.consent import recipient
from services.notifier.patients.registry import Asked, ConsentRecord
from services.notifier.senders.base import EmailSender, SendResult, SmsSender
from services.shared.clock import Clock
from services.shared.erasure import ERASED, ErasedPatients
from services.shared.events import Channel, DeliveryState, NotificationStatus, ReminderDue
from services.shared.lateness import MISSED, STALE, no_longer_useful


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

    def latest_many(self, keys: Iterable[BookingKey]) -> Mapping[BookingKey, SeenBooking]: ...


class OptOuts(Protocol):
    """The consent registry as delivery reads it (see :mod:`registry`)."""

    def opted_out_many(self, asked: Sequence[Asked]) -> list[ConsentRecord | None]: ...


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


SendError = RetryableSendError | PermanentSendError | AmbiguousSendError
Attempted = SendResult | SendError | Exception
"""What one hand-over came to: the provider's id, its refusal, or an error of our own."""
T = TypeVar("T")


Claims = list[tuple[int, Delivery, RenderedMessage]]
"""A step's granted claims: the job's place in the batch, its row and its message."""


@dataclass(frozen=True)
class Going:
    """A step being handed over: its claims, the call that waits for their results, and
    when it began."""

    claims: Claims
    results: Callable[[], list[Attempted]]
    began: float


@dataclass(frozen=True)
class Senders:
    sms: SmsSender
    email: EmailSender

    def close(self) -> None:
        """Close the senders that hold connections (Twilio's)."""
        for sender in (self.sms, self.email):
            close: Callable[[], None] | None = getattr(sender, "close", None)
            if close is not None:
                close()


class Deliverer:
    """Delivers one reminder on one channel at most once (see :mod:`ledger`).

    One call makes at most one attempt: a transient failure is deferred in the
    ledger (``retrying``), and :meth:`due_retries` hands it back when its next
    attempt is due, until it is no longer useful (see :class:`RetryPolicy`).
    ``side_by_side``: how many hand-overs ``pool`` runs at once.
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
        pool: Executor | None = None,
        side_by_side: int = 1,
    ) -> None:
        self._pool = pool
        self._least_step = max(FIRST_STEP, side_by_side)
        self._step = self._least_step
        self._pace: float | None = None
        self._erased = erased
        self._ledger = ledger
        self._queue = RetryQueue(ledger.engine)
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
        return self.deliver_all([Job(reminder, channel, source or Source())])[0]

    def deliver_all(self, jobs: Sequence[Job]) -> list[Outcome]:
        """What :meth:`deliver` does for each job, with one ledger read for the whole batch
        and, per step of it, one write of the claims and one of the outcomes (see
        :meth:`_deliver_in_steps`); the outcomes in order.

        A job the ledger already knows (a redelivery, a retry, a second copy in
        the batch, a row another notifier wrote first) takes the one-row path.
        Different patients are handed over side by side when a pool is given;
        one patient's go in order. An error of our own (not the provider's) is
        raised once every outcome reached is recorded; its row stays ``sending``.
        """
        for job in jobs:
            if job.source.replay_of:
                self._queue.reopen(*job.key, job.source.replay_of, self._now())
        known = self._ledger.get_many(job.key for job in jobs)
        outcomes: dict[int, Outcome] = {}
        fresh: list[int] = []
        later: list[int] = []
        keys: set[Key] = set()
        for i, job in enumerate(jobs):
            row = known.get(job.key)
            if job.key in keys or (row is not None and row.state in UNSETTLED):
                later.append(i)
            elif row is not None:
                outcomes[i] = self._outcome(job.reminder, row, repeat=True)
            else:
                fresh.append(i)
            keys.add(job.key)
        crashed, lost = self._deliver_in_steps(jobs, fresh, outcomes)
        for i in sorted(later + lost):
            outcomes[i] = self._deliver_known(jobs[i])
        if crashed is not None:
            raise crashed
        return [outcomes[i] for i in range(len(jobs))]

    def _deliver_in_steps(
        self, jobs: Sequence[Job], fresh: list[int], outcomes: dict[int, Outcome]
    ) -> tuple[Exception | None, list[int]]:
        """Deliver the jobs the ledger has no row for, a step at a time; return the first
        error of our own and the jobs whose row another writer opened first.

        A claim a killed notifier leaves ``sending`` is never sent, so only the steps
        about to go out are claimed (docs/decisions.md, "A batch is claimed a step at a
        time"): a step is claimed while the one before is handed over, and recorded
        after it, so at most two are at stake and the pool never waits between them.
        A step holds at least as many as the pool hands over side by side and about
        :data:`CLAIM_AHEAD_SECONDS` of hand-overs (:meth:`_resize`). Each step reads
        the bookings and opt-outs afresh.
        """
        crashed: Exception | None = None
        lost: list[int] = []
        behind: dict[str, Future[None]] = {}
        going: Going | None = None
        done = 0
        while done < len(fresh) or going is not None:
            after, going = going, None
            if done < len(fresh):
                step = fresh[done : done + self._step]
                began = time.monotonic()
                claims, lost_here = self._claim_step(jobs, step, outcomes)
                sends = [(jobs[i], message) for i, _, message in claims]
                going = Going(claims, self._start_hand_over(sends, behind), began)
                lost, done = lost + lost_here, done + len(step)
            if after is not None:
                crashed = self._record_step(jobs, after, outcomes) or crashed
            if going is not None and self._pool is None:  # handed over already
                crashed = self._record_step(jobs, going, outcomes) or crashed
                going = None
        return crashed, lost

    def _resize(self, handed: int, took: float) -> None:
        """The next step: about :data:`CLAIM_AHEAD_SECONDS` of hand-overs at the pace
        seen so far, and at most twice as many as this one.

        The pace is this step's averaged with the one before (halving the weight of
        older steps), so a step that went out in a provider's burst after a pause does
        not double the next one.
        """
        if handed < self._step and took < CLAIM_AHEAD_SECONDS:
            return  # the tail of a batch: too few to tell
        pace = handed / max(took, 0.001)
        self._pace = pace if self._pace is None else (self._pace + pace) / 2
        fits = int(self._pace * CLAIM_AHEAD_SECONDS)
        self._step = max(self._least_step, min(2 * max(handed, 1), fits))

    def _claim_step(
        self, jobs: Sequence[Job], step: list[int], outcomes: dict[int, Outcome]
    ) -> tuple[Claims, list[int]]:
        """Write the step's claims, skips and template failures in one transaction; the
        claims to hand over, and the jobs whose row another writer opened first."""
        opening: list[tuple[int, NewRow, RenderedMessage | None]] = []
        for i, reason in zip(step, self._reasons_to_skip([jobs[i] for i in step]), strict=True):
            job = jobs[i]
            if reason:
                opening.append(
                    (i, NewRow(job.reminder, job.channel, LedgerState.SKIPPED, reason), None)
                )
                continue
            try:
                message = self._renderer.render(job.reminder, job.channel)
            except TemplateRenderError as exc:
                row = NewRow(job.reminder, job.channel, LedgerState.FAILED, str(exc))
                opening.append((i, row, None))
                continue
            opening.append((i, NewRow(job.reminder, job.channel, LedgerState.SENDING), message))
        written = self._ledger.open_many([row for _, row, _ in opening], self._now())
        lost = [i for i, row, _ in opening if row.key not in written]
        claims: Claims = []
        for i, row, rendered in opening:
            if (opened := written.get(row.key)) is None:
                continue
            if rendered is None:
                outcomes[i] = self._outcome(jobs[i].reminder, opened)
            else:
                claims.append((i, opened, rendered))
        return claims, lost

    def _record_step(
        self, jobs: Sequence[Job], going: Going, outcomes: dict[int, Outcome]
    ) -> Exception | None:
        """Wait for a step's hand-overs and write their outcomes in one transaction
        (the next step sized by how long it took); return the first error of our own."""
        crashed: Exception | None = None
        finished: list[tuple[int, Finished]] = []
        for (i, claimed, _), result in zip(going.claims, going.results(), strict=True):
            if isinstance(result, RetryableSendError):
                outcomes[i] = self._defer(jobs[i].reminder, claimed, result, jobs[i].source)
            elif isinstance(result, SendResult | PermanentSendError | AmbiguousSendError):
                finished.append((i, finish_of(claimed, result)))
            else:
                crashed = crashed or result
        rows = self._ledger.finish_many([f for _, f in finished], self._now())
        for i, _ in finished:
            outcomes[i] = self._outcome(jobs[i].reminder, rows[jobs[i].key])
        self._resize(len(going.claims), time.monotonic() - going.began)
        return crashed

    def _deliver_known(self, job: Job) -> Outcome:
        """One job the ledger may already have a row for, read afresh and acted on alone."""
        reminder, channel = job.reminder, job.channel
        known = self._ledger.get(reminder.reminder_id, channel)
        if known is not None and known.state not in UNSETTLED:
            return self._outcome(reminder, known, repeat=True)
        if known is not None and known.state is LedgerState.PENDING:
            if known.next_attempt_at is not None and known.next_attempt_at > self._now():
                return self._outcome(reminder, known, repeat=True)  # not due again yet
            if known.retry_until is not None and self._now() >= known.retry_until:
                return self._give_up(reminder, known)
        if reason := self._reasons_to_skip([job])[0]:
            row = self._ledger.record(reminder, channel, LedgerState.SKIPPED, reason, self._now())
            return self._outcome(reminder, row)
        try:
            message = self._renderer.render(reminder, channel)
        except TemplateRenderError as exc:
            row = self._ledger.record(reminder, channel, LedgerState.FAILED, str(exc), self._now())
            return self._outcome(reminder, row)
        return self._send(job, message)

    def close(self) -> None:
        """Close the senders' connections."""
        self._senders.close()

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
        """Deferred deliveries whose next attempt is due now, those of use for the least
        time first (see :meth:`DeliveryLedger.due_retries`)."""
        return self._queue.due_retries(self._now(), limit)

    def fail_unreadable(self, retry: Retry, reason: str) -> None:
        """A deferred delivery whose kept reminder no longer reads: failed, with ``reason``."""
        self._queue.fail_pending(retry, f"kept reminder unreadable: {reason}", self._now())

    def close_interrupted(self, before: datetime) -> list[tuple[ReminderDue, Outcome]]:
        """Retries a stopped notifier left mid-send: recorded unknown, never resent."""
        closed = self._queue.interrupted_retries(before, self._now())
        return [
            (reminder, self._outcome(reminder, row))
            for payload, row in closed
            for reminder in [ReminderDue.model_validate_json(payload)]
        ]

    def postpone(self, reminder: ReminderDue, channel: Channel, until: datetime) -> None:
        """Hold a deferred delivery until ``until`` (its clinic's quiet hours end then)."""
        self._queue.postpone(reminder.reminder_id, channel, until)

    def _reasons_to_skip(self, jobs: Sequence[Job]) -> list[str | None]:
        """Why each job is not to be sent (or None), in that order: its booking moved on,
        it is stale, it has no address, or the patient opted out (one read of each store)."""
        moot = self._moot([job.reminder for job in jobs])
        reasons: list[str | None] = []
        asking: list[tuple[int, Asked]] = []
        for job in jobs:
            reminder = job.reminder
            reason = moot.get((reminder.clinic_id, reminder.booking_id)) or self._stale(reminder)
            found = recipient(reminder.patient, job.channel)
            if reason is None and found.reason is None and self._opt_outs is not None:
                asking.append(
                    (len(reasons), (found.address or "", reminder.clinic_id, job.channel))
                )
            reasons.append(reason or found.reason)
        if self._opt_outs is not None and asking:
            # The registry overrides the booking's consent: the patient's own word is the latest.
            withdrawals = self._opt_outs.opted_out_many([asked for _, asked in asking])
            for (at, _), withdrawn in zip(asking, withdrawals, strict=True):
                if withdrawn is not None:
                    reasons[at] = withdrawal_reason(withdrawn)
        return reasons

    def _stale(self, reminder: ReminderDue) -> str | None:
        if reminder.stale_at is None or self._now() < reminder.stale_at:
            return None
        why = MISSED if reminder.catch_up else STALE  # the worker's words for the same rule
        return no_longer_useful(why, reminder.due_at, reminder.stale_at)

    def _send(self, job: Job, message: RenderedMessage) -> Outcome:
        reminder, channel = job.reminder, job.channel
        claim = self._ledger.claim(reminder, channel, self._now())
        if not claim.granted:
            return self._outcome(reminder, claim.delivery)
        result = self._attempt(job, message)
        if isinstance(result, RetryableSendError):
            return self._defer(reminder, claim.delivery, result, job.source)
        if isinstance(result, SendResult | PermanentSendError | AmbiguousSendError):
            return self._finish(reminder, finish_of(claim.delivery, result))
        raise result

    def _finish(self, reminder: ReminderDue, done: Finished) -> Outcome:
        claimed = done.claimed
        row = self._ledger.finish(
            claimed.reminder_id,
            claimed.channel,
            done.state,
            self._now(),
            done.reason,
            done.provider_id,
            claimed=claimed,
        )
        return self._outcome(reminder, row)

    def _start_hand_over(
        self, sends: list[tuple[Job, RenderedMessage]], behind: dict[str, Future[None]]
    ) -> Callable[[], list[Attempted]]:
        """Start handing ``sends`` over; the call returned waits for their results, in order.

        Without a pool they are handed over before this returns. With one, different
        patients' go side by side, and each patient's in order, after those of theirs
        still going from the step before (``behind``: each patient's last, kept up to date).
        """
        if self._pool is None:
            done = [self._attempt(job, message) for job, message in sends]
            return lambda: done
        by_patient: dict[str, list[int]] = {}
        for i, (job, _) in enumerate(sends):
            by_patient.setdefault(job.reminder.key, []).append(i)
        results: list[Attempted | None] = [None] * len(sends)

        def one_patient(indices: list[int], before: Future[None] | None) -> None:
            if before is not None:
                before.result()  # submitted earlier, so a worker took it already
            for i in indices:
                results[i] = self._attempt(*sends[i])

        futures = []
        for patient, indices in by_patient.items():
            behind[patient] = self._pool.submit(one_patient, indices, behind.get(patient))
            futures.append(behind[patient])

        def wait() -> list[Attempted]:
            for future in futures:
                future.result()
            return [result for result in results if result is not None]

        return wait

    def _attempt(self, job: Job, message: RenderedMessage) -> Attempted:
        """Hand ``message`` over; the provider's refusal or an error of ours is returned."""
        to = recipient(job.reminder.patient, job.channel).address or ""
        try:
            return self._hand_over(to, message, job.reminder)
        except Exception as exc:  # a SendError, or one of ours: raised once the batch is recorded
            return exc

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
            return self._finish(reminder, Finished(claimed, LedgerState.FAILED, reason))
        attempt = PlannedAttempt(
            at, self._retries.useful_until(reminder), source.partition, source.offset
        )
        row = self._ledger.defer(reminder, channel, exc.reason, now, attempt)
        return self._outcome(reminder, row)

    def _give_up(self, reminder: ReminderDue, known: Delivery) -> Outcome:
        """Fail a retry taken up only after its last useful moment (the notifier was
        stopped, or behind), saying when its next try was due and when it came."""
        until = known.retry_until.isoformat() if known.retry_until else "now"
        due = known.next_attempt_at.isoformat() if known.next_attempt_at else "at once"
        reason = (
            f"gave up after {known.attempts} attempts, of no use after {until}: {known.reason};"
            f" its next try, due {due}, was taken up only at {self._now().isoformat()}"
        )
        row = self._ledger.record(reminder, known.channel, LedgerState.FAILED, reason, self._now())
        return self._outcome(reminder, row)

    def _moot(self, reminders: Sequence[ReminderDue]) -> dict[BookingKey, str]:
        """Why each booking's reminders no longer apply (cancelled, moved, ...), where one does."""
        if self._bookings is None or not reminders:
            return {}
        seen = self._bookings.latest_many((r.clinic_id, r.booking_id) for r in reminders)
        reasons: dict[BookingKey, str] = {}
        for reminder in reminders:
            key = (reminder.clinic_id, reminder.booking_id)
            if reason := moot_reason(reminder, seen.get(key)):
                reasons[key] = reason
        return reasons

    def _hand_over(self, to: str, message: RenderedMessage, reminder: ReminderDue) -> SendResult:
        if message.channel is Channel.SMS:
            return self._senders.sms.send(to, message.text, reminder)
        return self._senders.email.send(
            to, message.subject or "", message.text, message.html, reminder, message.headers
        )

    def _outcome(self, reminder: ReminderDue, row: Delivery, repeat: bool = False) -> Outcome:
        status = published_status(row, reminder.clinic_id, reminder.booking_id, reminder.milestone)
        failed = status.state is DeliveryState.FAILED
        return Outcome(status, f"{row.channel.value}: {row.reason}" if failed else None, repeat)

    def _now(self) -> datetime:
        return self._clock.now()


CLAIM_AHEAD_SECONDS = 0.25
"""About how long one step of a batch takes to hand over (:meth:`Deliverer._deliver_in_steps`)."""
FIRST_STEP = 8
"""The least a step holds: fewer would cost a ledger write for a few messages."""
UNSETTLED = (LedgerState.PENDING, LedgerState.SENDING)
"""Rows a delivery may still act on: waiting for a retry, or left mid-send."""


def finish_of(
    claimed: Delivery, result: SendResult | PermanentSendError | AmbiguousSendError
) -> Finished:
    """The ledger's record of a hand-over: sent, failed for good, or of unknown outcome."""
    if isinstance(result, PermanentSendError):
        return Finished(claimed, LedgerState.FAILED, result.reason)
    if isinstance(result, AmbiguousSendError):
        return Finished(claimed, LedgerState.UNKNOWN, result.reason)
    return Finished(claimed, LedgerState.SENT, None, result.provider_id)


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
