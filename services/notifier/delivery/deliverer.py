"""One reminder on one channel: ledger claim, render, hand over, record; Kafka-free.

:class:`Deliverer` returns what became of each channel; the consumer loop
publishes it. What it asks of others: :mod:`gate` whether to send at all,
:mod:`hand_over` the providers, :mod:`deferrals` when to try again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import datetime

from services.notifier.delivery.deferrals import Deferrals
from services.notifier.delivery.gate import Bookings, Gate, OptOuts
from services.notifier.delivery.hand_over import Attempted, HandOver, Senders
from services.notifier.delivery.jobs import Job, Outcome, Source, finish_of, outcome_of
from services.notifier.delivery.ledger import (
    Delivery,
    DeliveryLedger,
    Finished,
    Key,
    LedgerState,
    NewRow,
)
from services.notifier.delivery.retry import RetryPolicy
from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    TemplateRenderError,
)
from services.notifier.messages.rendering import RenderedMessage, TemplateRenderer
from services.notifier.senders.base import SendResult
from services.shared.clock import Clock
from services.shared.erasure import ErasedPatients
from services.shared.events import Channel, ReminderDue

Claims = list[tuple[int, Delivery, RenderedMessage]]
"""A step's granted claims: the job's place in the batch, its row and its message."""


@dataclass(frozen=True)
class Going:
    """A step being handed over: its claims, the call that waits for their results, and
    when it began."""

    claims: Claims
    results: Callable[[], list[Attempted]]
    began: float


class Deliverer:
    """Delivers one reminder on one channel at most once (see :mod:`ledger`).

    One call makes at most one attempt: a transient failure is deferred in the
    ledger (``retrying``), and :attr:`retries` hands it back when its next
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
        self._least_step = max(FIRST_STEP, side_by_side)
        self._step = self._least_step
        self._pace: float | None = None
        self._ledger = ledger
        self._renderer = renderer
        self._clock = clock
        self._gate = Gate(clock, opt_outs, bookings, erased)
        self._hand_over = HandOver(senders, pool)
        self.retries = Deferrals(ledger, retries, clock)

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
                self.retries.reopen(*job.key, job.source.replay_of)
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
                outcomes[i] = outcome_of(job.reminder, row, repeat=True)
            else:
                fresh.append(i)
            keys.add(job.key)
        crashed, lost = self._deliver_in_steps(jobs, fresh, outcomes)
        for i in sorted(later + lost):
            outcomes[i] = self._deliver_known(jobs[i])
        if crashed is not None:
            raise crashed
        return [outcomes[i] for i in range(len(jobs))]

    def dropped(self, reminder: ReminderDue) -> str | None:
        """Why ``reminder`` must be dropped, or None (see :meth:`Gate.dropped`)."""
        return self._gate.dropped(reminder)

    def drop(self, reminder: ReminderDue, channel: Channel, reason: str) -> None:
        """Record ``reminder`` on ``channel`` as dropped, for the counts; its row names
        neither booking nor patient (see :meth:`dropped`)."""
        self._ledger.record_dropped(reminder, channel, reason, self._now())

    def close(self) -> None:
        """Close the senders' connections."""
        self._hand_over.close()

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
                sends = [(jobs[i].reminder, message) for i, _, message in claims]
                going = Going(claims, self._hand_over.start(sends, behind), began)
                lost, done = lost + lost_here, done + len(step)
            if after is not None:
                crashed = self._record_step(jobs, after, outcomes) or crashed
            if going is not None and not self._hand_over.pooled:  # handed over already
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
        reasons = self._gate.reasons_to_skip([(jobs[i].reminder, jobs[i].channel) for i in step])
        for i, reason in zip(step, reasons, strict=True):
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
                outcomes[i] = outcome_of(jobs[i].reminder, opened)
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
            job = jobs[i]
            if isinstance(result, RetryableSendError):
                row = self.retries.defer(job.reminder, claimed, result, job.source)
                outcomes[i] = outcome_of(job.reminder, row)
            elif isinstance(result, SendResult | PermanentSendError | AmbiguousSendError):
                finished.append((i, finish_of(claimed, result)))
            else:
                crashed = crashed or result
        rows = self._ledger.finish_many([f for _, f in finished], self._now())
        for i, _ in finished:
            outcomes[i] = outcome_of(jobs[i].reminder, rows[jobs[i].key])
        self._resize(len(going.claims), time.monotonic() - going.began)
        return crashed

    def _deliver_known(self, job: Job) -> Outcome:
        """One job the ledger may already have a row for, read afresh and acted on alone."""
        reminder, channel = job.reminder, job.channel
        known = self._ledger.get(reminder.reminder_id, channel)
        if known is not None and known.state not in UNSETTLED:
            return outcome_of(reminder, known, repeat=True)
        if known is not None and known.state is LedgerState.PENDING:
            if known.next_attempt_at is not None and known.next_attempt_at > self._now():
                return outcome_of(reminder, known, repeat=True)  # not due again yet
            if known.retry_until is not None and self._now() >= known.retry_until:
                return outcome_of(reminder, self.retries.give_up(reminder, known))
        if reason := self._gate.reasons_to_skip([(reminder, channel)])[0]:
            row = self._ledger.record(reminder, channel, LedgerState.SKIPPED, reason, self._now())
            return outcome_of(reminder, row)
        try:
            message = self._renderer.render(reminder, channel)
        except TemplateRenderError as exc:
            row = self._ledger.record(reminder, channel, LedgerState.FAILED, str(exc), self._now())
            return outcome_of(reminder, row)
        return self._send(job, message)

    def _send(self, job: Job, message: RenderedMessage) -> Outcome:
        reminder, channel = job.reminder, job.channel
        claim = self._ledger.claim(reminder, channel, self._now())
        if not claim.granted:
            return outcome_of(reminder, claim.delivery)
        result = self._hand_over.attempt(reminder, message)
        if isinstance(result, RetryableSendError):
            row = self.retries.defer(reminder, claim.delivery, result, job.source)
            return outcome_of(reminder, row)
        if isinstance(result, SendResult | PermanentSendError | AmbiguousSendError):
            return outcome_of(reminder, self._finish(finish_of(claim.delivery, result)))
        raise result

    def _finish(self, done: Finished) -> Delivery:
        claimed = done.claimed
        return self._ledger.finish(
            claimed.reminder_id,
            claimed.channel,
            done.state,
            self._now(),
            done.reason,
            done.provider_id,
            claimed=claimed,
        )

    def _now(self) -> datetime:
        return self._clock.now()


CLAIM_AHEAD_SECONDS = 0.25
"""About how long one step of a batch takes to hand over (:meth:`Deliverer._deliver_in_steps`)."""
FIRST_STEP = 8
"""The least a step holds: fewer would cost a ledger write for a few messages."""
UNSETTLED = (LedgerState.PENDING, LedgerState.SENDING)
"""Rows a delivery may still act on: waiting for a retry, or left mid-send."""
