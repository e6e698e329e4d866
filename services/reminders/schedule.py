"""The durable schedule: booking events in, due reminders out.

Pure of Kafka and Faust: it works on two mappings of JSON-ready values (the worker passes
its Faust tables, unit tests pass dicts), a partition number and an instant.
Keys of the index carry the partition, so each worker reads only the buckets
of the partitions it owns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.reminders.planning.engine import ClinicPolicy, due_event, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.state import Outcome, PatientState, Pending, bucket_of
from services.shared.events import Booking, BookingEvent, ReminderDue

Table = MutableMapping[str, Any]
"""A mapping of JSON-ready values: a Faust table in the worker, a dict in tests."""


@dataclass(frozen=True)
class Skipped:
    """A reminder that came due too late to be useful, and why."""

    booking: Booking
    pending: Pending
    reason: str


@dataclass
class Tick:
    """What one look at the clock produced."""

    emitted: list[ReminderDue] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


class Scheduler:
    """Keeps each patient's plan and the due-time index in two tables."""

    def __init__(
        self,
        patients: Table,
        index: Table,
        registry: ProtocolRegistry,
        policy: Callable[[str], ClinicPolicy],
        bucket_seconds: int = 60,
        max_lateness: timedelta = timedelta(days=7),
    ) -> None:
        self._patients = patients
        self._index = index
        self._registry = registry
        self._policy = policy
        self._bucket = bucket_seconds
        self._max_lateness = max_lateness

    def apply(self, event: BookingEvent, partition: int, now: datetime) -> PatientState:
        """Fold a booking event into its patient's plan and re-plan the patient.

        Raises ``UnknownTreatment`` (nothing is changed) when no protocol covers
        the booking's treatment.
        """
        self._registry.get(event.data.treatment)
        booking = event.data
        if booking.booked_at is None:
            booking = booking.model_copy(update={"booked_at": event.occurred_at})
        before = PatientState.from_value(self._patients.get(event.key))
        bookings = {**before.bookings, booking.booking_id: booking}
        policy = self._policy(booking.clinic_id)
        planned = plan_patient(list(bookings.values()), self._registry, policy)
        floor = self._ensure_cursor(partition, now)
        pending: dict[str, Pending] = {}
        for item in planned:
            if item.reminder_id in before.done:
                continue
            old = before.pending.get(item.reminder_id)
            if old is not None and old.due_at == item.due_at:
                pending[item.reminder_id] = old
            else:
                pending[item.reminder_id] = Pending.of(
                    item, max(floor, self._bucket_of(item.due_at))
                )
        self._reindex(partition, event.key, before.pending, pending)
        after = PatientState(bookings=bookings, pending=pending, done=before.done)
        self._patients[event.key] = after.to_value()
        return after

    def tick(self, partition: int, now: datetime) -> Tick:
        """Take every reminder of ``partition`` due by ``now`` out of the schedule.

        Each is either emitted or, when it is past being useful, skipped with
        its reason; either way it is recorded as done and never comes back.
        """
        result = Tick()
        cursor = self._cursor(partition)
        last = self._bucket_of(now)
        if cursor is None:
            self._index[self._cursor_key(partition)] = last
            return result
        states: dict[str, PatientState] = {}
        for bucket in range(cursor, last + 1, self._bucket):
            self._fire_bucket(partition, bucket, now, states, result)
        for key, state in states.items():
            self._patients[key] = state.to_value()
        self._index[self._cursor_key(partition)] = last
        return result

    def _fire_bucket(
        self,
        partition: int,
        bucket: int,
        now: datetime,
        states: dict[str, PatientState],
        result: Tick,
    ) -> None:
        key = self._bucket_key(partition, bucket)
        entries: list[list[str]] = self._index.get(key) or []
        if not entries:
            return
        keep: list[list[str]] = []
        for patient, rid in entries:
            state = states.get(patient) or PatientState.from_value(self._patients.get(patient))
            pending = state.pending.get(rid)
            if pending is None:
                continue
            if pending.due_at > now:
                keep.append([patient, rid])
                continue
            states[patient] = self._fire(state, pending, now, result)
        self._write_bucket(key, keep)

    def _fire(
        self, state: PatientState, pending: Pending, now: datetime, result: Tick
    ) -> PatientState:
        booking = state.bookings[pending.booking_id]
        reason = self._staleness(pending, now)
        if reason is None:
            result.emitted.append(due_event(booking, pending.planned(), now))
            outcome = Outcome.EMITTED
        else:
            result.skipped.append(Skipped(booking, pending, reason))
            outcome = Outcome.SKIPPED
        left = {k: v for k, v in state.pending.items() if k != pending.reminder_id}
        return state.model_copy(
            update={"pending": left, "done": {**state.done, pending.reminder_id: outcome}}
        )

    def _staleness(self, pending: Pending, now: datetime) -> str | None:
        if pending.stale_at is not None and now >= pending.stale_at:
            return (
                f"stale: due {pending.due_at.isoformat()}, "
                f"of no use after {pending.stale_at.isoformat()}"
            )
        if now - pending.due_at > self._max_lateness:
            return f"stale: due {pending.due_at.isoformat()}, more than {self._max_lateness} late"
        return None

    def _reindex(
        self, partition: int, patient: str, old: dict[str, Pending], new: dict[str, Pending]
    ) -> None:
        gone = [p for rid, p in old.items() if new.get(rid) is not p]
        came = [p for rid, p in new.items() if old.get(rid) is not p]
        for bucket, rids in _by_bucket(gone).items():
            key = self._bucket_key(partition, bucket)
            entries = list(self._index.get(key) or [])
            self._write_bucket(key, [e for e in entries if not (e[0] == patient and e[1] in rids)])
        for bucket, rids in _by_bucket(came).items():
            key = self._bucket_key(partition, bucket)
            entries = list(self._index.get(key) or [])
            self._write_bucket(key, entries + [[patient, rid] for rid in sorted(rids)])

    def _write_bucket(self, key: str, entries: list[list[str]]) -> None:
        if entries:
            self._index[key] = entries
        elif key in self._index:
            del self._index[key]

    def _ensure_cursor(self, partition: int, now: datetime) -> int:
        cursor = self._cursor(partition)
        if cursor is None:
            cursor = self._bucket_of(now)
            self._index[self._cursor_key(partition)] = cursor
        return max(cursor, self._bucket_of(now))

    def _cursor(self, partition: int) -> int | None:
        cursor = self._index.get(self._cursor_key(partition))
        return None if cursor is None else int(cursor)

    def _bucket_of(self, instant: datetime) -> int:
        return bucket_of(instant, self._bucket)

    @staticmethod
    def _cursor_key(partition: int) -> str:
        return f"{partition}:cursor"

    @staticmethod
    def _bucket_key(partition: int, bucket: int) -> str:
        return f"{partition}:{bucket}"


def _by_bucket(items: Iterable[Pending]) -> dict[int, set[str]]:
    grouped: dict[int, set[str]] = {}
    for item in items:
        grouped.setdefault(item.bucket, set()).add(item.reminder_id)
    return grouped
