"""The durable schedule: booking events in, due reminders out.

Pure of Kafka and Faust: it works on a mapping of JSON values (the worker
passes its Faust table, unit tests pass a dict), a partition number and an
instant. Each worker fires only the partitions it owns.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from services.reminders.planning.engine import ClinicPolicy, due_event, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.due_index import DueIndex
from services.reminders.schedule.state import Outcome, PatientState, Pending, bucket_of
from services.reminders.schedule.stats import PlanCounts
from services.shared.events import (
    Booking,
    BookingEvent,
    BookingEventType,
    BookingStatus,
    ReminderDue,
)
from services.shared.lateness import MISSED, STALE, no_longer_useful

Table = MutableMapping[str, bytes]
"""Each patient's plan as JSON: a Faust table in the worker, a dict in tests."""


@dataclass(frozen=True)
class Skipped:
    """A reminder that came due but will not go out (stale, or moot after a change), and why."""

    booking: Booking
    pending: Pending
    reason: str


@dataclass(frozen=True)
class Applied:
    """A patient's plan after a booking event, and what the event made moot.

    ``skipped`` holds reminders that had already come due but were not yet
    fired when the event took them out of the plan (a booking marked attended
    before its day-before reminder went out, say): they are recorded as done,
    so every reminder that came due ends either emitted or skipped with a reason.
    """

    state: PatientState
    skipped: list[Skipped]


@dataclass(frozen=True)
class Keeping:
    """How long a plan with nothing left pending is kept, as the booking store keeps its
    bookings: ``finished`` after the latest appointment, ``cancelled`` after the event
    that left every booking of the patient cancelled (``CLINIC_RETENTION_*_DAYS``)."""

    finished: timedelta
    cancelled: timedelta

    def forget_at(self, bookings: Iterable[Booking], now: datetime) -> datetime | None:
        """When a plan holding ``bookings`` and nothing pending may go; None without bookings."""
        times = [
            now + self.cancelled if b.status is BookingStatus.CANCELLED else b.start + self.finished
            for b in bookings
        ]
        return max(times, default=None)


@dataclass
class Tick:
    """What one look at the clock produced, and the plans to write once it is sent.

    ``plans`` holds each fired patient's plan with those reminders marked done;
    :meth:`Scheduler.commit` writes them. A worker sends ``emitted`` and waits
    for the broker to take them before it commits, so a crash in between sends
    them again (the notifier's ledger keeps the second from reaching the
    patient) rather than losing them.
    """

    partition: int = 0
    bucket: int = 0
    """The partition looked at, and the last due-time bucket it fired."""
    emitted: list[ReminderDue] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    plans: dict[str, PatientState] = field(default_factory=dict)
    replaced: dict[str, PatientState] = field(default_factory=dict)
    """The plans ``plans`` replace, for the running counts."""
    forgotten: dict[str, PatientState] = field(default_factory=dict)
    """Plans past their keeping (:class:`Keeping`), deleted when the tick is committed."""


class Scheduler:
    """Keeps each patient's plan in a table and fires reminders when they are due.

    Writes one table value per booking event (the patient's plan) and one per
    patient whose reminders fire; the due-time index is derived in memory, and
    :meth:`rebuild` re-derives it from the table after a restart or rebalance.
    """

    def __init__(
        self,
        patients: Table,
        registry: ProtocolRegistry,
        policy: Callable[[str], ClinicPolicy],
        bucket_seconds: int = 60,
        max_lateness: timedelta = timedelta(days=7),
        keeping: Keeping | None = None,
        window: timedelta | None = None,
    ) -> None:
        """``keeping``: how long a finished plan is kept (for good when None). ``window``:
        how far ahead the due-time index lists reminders (everything when None); those due
        later stay in the table alone until time brings them within it (:meth:`refill`)."""
        self._keeping = keeping
        self._window = window
        self._complete: int | None = None
        """The index lists every pending reminder of a bucket up to this one (None: all)."""
        self._scan: _Scan | None = None
        self._patients = patients
        self._registry = registry
        self._policy = policy
        self._bucket = bucket_seconds
        self._max_lateness = max_lateness
        self.index = DueIndex()
        self.counts = PlanCounts()
        self.started_at: datetime | None = None
        """When this worker started: a reminder due before then came due while it was down."""

    def rebuild(self, partitions: Iterable[int], now: datetime | None = None) -> int:
        """Index and count the pending reminders of every patient held for ``partitions``.

        Reads the whole table (as a worker does once per rebalance); with a window,
        indexes only what falls due by ``now`` plus the window. Returns how many
        (bucket, patient) entries the index holds.
        """
        horizon = None
        if self._window is not None and now is not None:
            horizon = self._bucket_of(now + self._window)
        self.index.reset(partitions, horizon)
        self._complete, self._scan = horizon, None
        self.counts.reset()
        for key, raw in self._patients.items():
            value = orjson.loads(raw)  # plain JSON: the plan is not validated on a rebuild
            if value.get("partition") in self.index.partitions:
                self.counts.add(value)
                self._list(sys.intern(key), value, after=None)
        return len(self.index)

    def forget_index(self) -> None:
        """Drop the index and any refill under way, until the next :meth:`rebuild` (the
        plans under it were discarded, see ``worker/recovery.py``)."""
        self.index.reset(())
        self._complete, self._scan = None, None

    def refill(self, now: datetime, seconds: float | None) -> None:
        """Keep the window ahead of ``now``: once half of it has passed, list the reminders
        the next half brings within it, reading the table for about ``seconds`` per call
        (to the end when None) so that a worker goes on planning and firing meanwhile.

        The index's horizon moves first, so a plan written during the scan is listed
        as it is written; a scan reads the table as it was when it began. Does nothing
        without a window or before the first :meth:`rebuild`.
        """
        if self._complete is None or self._window is None:
            return
        if self._scan is None:
            if self._bucket_of(now + self._window / 2) <= self._complete:
                return
            self.index.horizon = self._bucket_of(now + self._window)
            self._scan = _Scan(self._complete, iter(self._patients.items()))
        scan = self._scan
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            for n, (key, raw) in enumerate(scan.items, 1):
                value = orjson.loads(raw)
                if value.get("partition") in self.index.partitions:
                    self._list(sys.intern(key), value, after=scan.after)
                if deadline is not None and n % 64 == 0 and time.monotonic() > deadline:
                    return
        except RuntimeError:  # a dict (the unit tests' table) written between two calls
            scan.items = iter(self._patients.items())  # read again from the start
            return
        self._scan = None
        self._complete = self.index.horizon

    def _list(self, key: str, value: dict[str, Any], after: int | None) -> None:
        """List a plan (parsed JSON) in the index: each pending reminder's bucket later than
        ``after`` (all when None) and, with nothing pending, when it is to be forgotten."""
        partition = value["partition"]
        pending = value.get("pending")
        for reminder in (pending or {}).values():
            if after is None or reminder["bucket"] > after:
                self.index.add(partition, int(reminder["bucket"]), key)
        if self._keeping is not None and not pending:
            bucket = self._forget_bucket(value.get("forget_at"))
            if after is None or bucket > after:
                self.index.add(partition, bucket, key)

    def apply(self, event: BookingEvent, partition: int, now: datetime) -> Applied:
        """Fold a booking event into its patient's plan and re-plan the patient.

        Raises ``UnknownTreatment`` (nothing is changed) when no protocol covers
        the booking's treatment.
        """
        self._registry.get(event.data.treatment)
        booking = event.data
        if booking.booked_at is None:
            booking = booking.model_copy(update={"booked_at": event.occurred_at})
        key = sys.intern(event.key)  # one string however many index entries share it
        stored = self._patients.get(key)
        before = PatientState.from_value(stored)
        bookings = {**before.bookings, booking.booking_id: booking}
        policy = self._policy(booking.clinic_id)
        planned = plan_patient(list(bookings.values()), self._registry, policy)
        floor = self._bucket_of(now)
        rebuilt = _rebuilt(event, before)
        pending: dict[str, Pending] = {}  # in due order, as planned
        history: dict[str, Outcome] = {}
        for item in planned:
            if item.reminder_id in before.done:
                continue
            old = before.pending.get(item.reminder_id)
            if old is not None and old.due_at == item.due_at:
                pending[item.reminder_id] = old
                continue
            catch_up = item.booking_id in rebuilt and item.due_at <= now
            if catch_up and now - item.due_at > self._max_lateness:
                history[item.reminder_id] = Outcome.SKIPPED  # long past: the ledger has its story
                continue
            fresh = Pending.of(item, max(floor, self._bucket_of(item.due_at)), catch_up)
            pending[item.reminder_id] = fresh
            self.index.add(partition, fresh.bucket, key)
        moot = [p for rid, p in before.pending.items() if rid not in pending and p.due_at <= now]
        done = {**before.done, **history, **{p.reminder_id: Outcome.SKIPPED for p in moot}}
        forget_at = None
        if not pending and self._keeping is not None:
            forget_at = self._keeping.forget_at(bookings.values(), now)
            self.index.add(partition, self._forget_bucket(forget_at), key)
        after = PatientState.model_construct(
            partition=partition, bookings=bookings, pending=pending, done=done, forget_at=forget_at
        )
        self._patients[key] = after.to_value()
        self.counts.replace(None if stored is None else before, after)
        reason = f"no longer applies after {event.type.value}"
        return Applied(after, [Skipped(before.bookings[p.booking_id], p, reason) for p in moot])

    def erase(self, key: str) -> PatientState | None:
        """Forget the patient ``key`` (``clinic:patient``): their plan, bookings and history.

        Deletes the table value, which on the worker writes a tombstone to the
        changelog; returns the plan that was held (None when there was none).
        Index entries of the key are left to lapse: a tick finds no plan and
        fires nothing.
        """
        stored = self._patients.get(key)
        if stored is None:
            return None
        before = PatientState.from_value(stored)
        del self._patients[key]
        self.counts.remove(before)
        return before

    def tick(self, partition: int, now: datetime) -> Tick:
        """Find every reminder of ``partition`` due by ``now``; :meth:`commit` marks them done.

        Each is either emitted or, when it is past being useful, skipped with
        its reason; once committed it is recorded as done and never comes back.
        The table is not written here: until the tick is committed, a
        restarted worker finds the same reminders due again.
        """
        last = self._bucket_of(now)
        while self._complete is not None and last > self._complete:  # the window fell behind
            self.refill(now, None)
        result = Tick(partition=partition, bucket=last)
        for key in self.index.take_due(partition, last):
            stored = self._patients.get(key)
            state = PatientState.from_value(stored)
            fired = state
            for pending in sorted(state.pending.values(), key=_due_order):
                if pending.due_at <= now:
                    fired = self._fire(fired, pending, now, result)
            if any(p.bucket <= last for p in fired.pending.values()):
                self.index.add(partition, last, key)
            if stored is not None and not fired.pending and self._keeping is not None:
                fired = self._finished(partition, key, state, fired, now, result)
            if fired is not state:
                result.plans[key] = fired
                result.replaced[key] = state
        return result

    def _finished(
        self, partition: int, key: str, state: PatientState, fired: PatientState,
        now: datetime, result: Tick,
    ) -> PatientState:  # fmt: skip
        """A plan with nothing pending: forgotten when its time came, else given its time
        (once, when its last reminder fired or a plan from before the field is met)."""
        assert self._keeping is not None
        when = fired.forget_at
        if when is None or fired is not state:
            when = self._keeping.forget_at(fired.bookings.values(), now)
            fired = fired.model_copy(update={"forget_at": when})
        if when is not None and when <= now:
            result.forgotten[key] = state
            return state
        self.index.add(partition, self._forget_bucket(when), key)
        return fired

    def commit(self, tick: Tick) -> None:
        """Write the plans of the patients ``tick`` fired: its reminders are done; and
        delete the plans it found past their keeping (a tombstone on the changelog)."""
        for key, state in tick.plans.items():
            self._patients[key] = state.to_value()
            self.counts.replace(tick.replaced[key], state)
        for key, state in tick.forgotten.items():
            if self._patients.pop(key, None) is not None:
                self.counts.remove(state)

    def put_back(self, tick: Tick) -> None:
        """List again the patients ``tick`` fired, uncommitted: the next tick fires them again.

        For a tick whose due reminders the broker did not take: their plans
        still hold them as pending, and now the index does too.
        """
        for key in [*tick.plans, *tick.forgotten]:
            self.index.add(tick.partition, tick.bucket, key)

    def outlook(self, now: datetime, horizon: timedelta) -> tuple[int, datetime | None]:
        """How many reminders fall due by ``now + horizon`` (overdue included), and the next due.

        Reads only the patients the index lists that early (or, when none are,
        those of its earliest bucket), never the whole table. With a window, the next
        due is what the index lists: None when nothing falls due within the window.
        """
        soon = now + horizon
        keys = self.index.listed_until(self._bucket_of(soon))
        if not keys and (first := self.index.first_bucket()) is not None:
            keys = self.index.listed_until(first)
        count, next_due = 0, None
        for key in keys:
            for pending in PatientState.from_value(self._patients.get(key)).pending.values():
                count += pending.due_at <= soon
                if next_due is None or pending.due_at < next_due:
                    next_due = pending.due_at
        return count, next_due

    def _fire(
        self, state: PatientState, pending: Pending, now: datetime, result: Tick
    ) -> PatientState:
        booking = state.bookings[pending.booking_id]
        reason = None if pending.catch_up else self._staleness(pending, now)
        if reason is None:
            result.emitted.append(due_event(booking, pending, now, pending.catch_up))
            outcome = Outcome.EMITTED
        else:
            result.skipped.append(Skipped(booking, pending, reason))
            outcome = Outcome.SKIPPED
        left = {k: v for k, v in state.pending.items() if k != pending.reminder_id}
        return state.model_copy(
            update={"pending": left, "done": {**state.done, pending.reminder_id: outcome}}
        )

    def _staleness(self, pending: Pending, now: datetime) -> str | None:
        why = STALE
        if self.started_at is not None and pending.due_at < self.started_at:
            why = MISSED
        if pending.stale_at is not None and now >= pending.stale_at:
            return no_longer_useful(why, pending.due_at, pending.stale_at)
        if now - pending.due_at > self._max_lateness:
            return f"{why}: due {pending.due_at.isoformat()}, more than {self._max_lateness} late"
        return None

    def _bucket_of(self, instant: datetime) -> int:
        return bucket_of(instant, self._bucket)

    def _forget_bucket(self, forget_at: datetime | str | None) -> int:
        """The bucket a finished plan is looked at again in: its forget time's, or at
        once (0) when it has none yet (the tick works it out and writes it)."""
        if forget_at is None:
            return 0
        when = datetime.fromisoformat(forget_at) if isinstance(forget_at, str) else forget_at
        return self._bucket_of(when)


@dataclass
class _Scan:
    """A refill under way: the table read so far, and the last bucket listed before it."""

    after: int
    items: Iterator[tuple[str, bytes]]


def _rebuilt(event: BookingEvent, before: PatientState) -> frozenset[str]:
    """The booking whose plan ``event`` rebuilds from the booking store, if it does.

    A resync of a booking the plan does not hold means the plan was lost: its
    reminders already due may or may not have gone out, which only the
    notifier's ledger knows.
    """
    booking_id = event.data.booking_id
    if event.type is BookingEventType.RESYNCED and booking_id not in before.bookings:
        return frozenset((booking_id,))
    return frozenset()


def _due_order(pending: Pending) -> tuple[datetime, str]:
    return (pending.due_at, pending.reminder_id)
