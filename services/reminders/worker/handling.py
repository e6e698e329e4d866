"""What the worker does with each record, as a plain class: no Faust in it.

The Faust app (:mod:`app`) declares the topics, the table, the agent and the
timer, and hands every booking event and tick to :class:`WorkerHandling`.
Everything that leaves goes through :class:`Outbound`, so unit tests drive the
whole path (plan, fire, put back, commit, dead-letter, ask for a resync) with a
fake in its place.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from faust.types import TP

from services.reminders.planning.protocol import UnknownTreatment
from services.reminders.schedule.schedule import Scheduler, Skipped
from services.reminders.schedule.state import PatientState
from services.shared.clock import Clock
from services.shared.control import RESYNC_REQUEST, ResyncRequested
from services.shared.erasure import ErasureKeys, ErasureRecord, PatientErased, decode_booking_topic
from services.shared.events import (
    BookingEvent,
    ConsumedRecord,
    DeadLetter,
    DeliveryState,
    InvalidEvent,
    NotificationStatus,
    encode,
)
from services.shared.metrics import PlatformMetrics
from services.shared.topics import Topics

log = logging.getLogger("clinic.reminders")
SERVICE = "reminders"
REFILL_SECONDS = 0.005
"""The table read per tick while the due-time window moves on (``Scheduler.refill``): with
a tick per partition every 0.2 s, a tenth of a core for a worker holding four partitions,
while a read lasts (minutes for a million plans, once per half window)."""


Record = ConsumedRecord
"""The parts of a consumed record the worker reads (a Faust message has them)."""


class Outbound(Protocol):
    """Where the worker's records go."""

    async def due(self, key: bytes, value: bytes) -> Awaitable[Any]:
        """Hand a due reminder to the producer; the awaitable resolves once the broker has it."""
        ...

    async def status(self, key: bytes, value: bytes) -> None: ...

    async def dead_letter(self, key: bytes | None, value: bytes) -> None: ...

    async def control(self, key: bytes, value: bytes) -> None:
        """Write to partition 0 of the control topic and wait until the broker has it."""
        ...

    async def erasure(self, key: bytes, value: bytes) -> None:
        """Write the worker's audit record of an erasure to the erasures topic."""
        ...


class WorkerHandling:
    """Booking events into plans, ticks into due reminders, faults into dead letters."""

    def __init__(
        self,
        scheduler: Scheduler,
        outbound: Outbound,
        clock: Clock,
        metrics: PlatformMetrics,
        topics: Topics,
        worker_id: str,
        owned: Callable[[], list[int]],
        keys: ErasureKeys,
        purge: Callable[[str, int], object] = lambda key, partition: None,
        forgetful_broker: bool = False,
        covered: Callable[[list[int]], Awaitable[str | None]] | None = None,
    ) -> None:
        """``purge(key, partition)``: take a deleted plan out of the store's files too.
        ``forgetful_broker``: the embedded broker, which keeps nothing across its
        restarts, so that a changelog shorter than the local plans is expected.
        ``covered(partitions)``: how a resync already queued covers the plans lost on
        those partitions, or None when one must be asked for (see ``resync.py``)."""
        self._forgetful = forgetful_broker
        self._covered = covered
        self._keys = keys
        self._purge = purge
        self.scheduler = scheduler
        self._out = outbound
        self._clock = clock
        self._metrics = metrics
        self._topics = topics
        self._worker_id = worker_id
        self._owned = owned

    def index_owned_partitions(self) -> None:
        """Index the due reminders of the partitions held, when they changed."""
        partitions = self._owned()
        if frozenset(partitions) != self.scheduler.index.partitions:
            entries = self.scheduler.rebuild(partitions, self._clock.now())
            log.info("indexed %d due entries for partitions %s", entries, partitions)

    async def on_record(self, record: Record) -> None:
        """One record of the agent's stream: a tick of a partition or a booking event."""
        if record.topic == self._topics.ticks:
            self.index_owned_partitions()  # after a rebalance, before the first firing
            await self.on_tick(record.partition)
        else:
            self._metrics.record_consumed(self._topics.bookings)
            await self.on_booking(record)

    async def on_booking(self, record: Record) -> None:
        """Fold a booking event into its patient's plan; never raises for the event's sake."""
        try:
            event = decode_booking_topic(record.value or b"")
            if isinstance(event, PatientErased):
                await self.on_erased(event, record.partition)
                return
            applied = self.scheduler.apply(event, record.partition, self._clock.now())
            _say_planned(event, applied.state)
            await self._report_skipped(applied.skipped)
        except (InvalidEvent, UnknownTreatment) as exc:
            await self._dead_letter(record, exc)
        except Exception as exc:  # a fault of ours, not the event's: kept with its reason
            log.exception("could not plan %s:%s", record.topic, record.offset)
            await self._dead_letter(record, exc)

    async def on_erased(self, erased: PatientErased, partition: int) -> None:
        """Delete the patient's plan (a changelog tombstone) and record it on the erasures topic.

        A record the broker does not take is logged, not retried: the plan is gone
        either way, and the booking service's record of the erasure stands.
        """
        held = self.scheduler.erase(erased.key)
        if held is not None:
            self._purge(erased.key, partition)
        counts = {"plans": 0, "bookings": 0, "pending_reminders": 0, "done_reminders": 0}
        if held is not None:
            counts = {
                "plans": 1,
                "bookings": len(held.bookings),
                "pending_reminders": len(held.pending),
                "done_reminders": len(held.done),
            }
        record = ErasureRecord.of(erased, SERVICE, self._keys, self._clock.now(), counts)
        log.info("erasure %s: %d plan(s) deleted", erased.erasure_id, counts["plans"])
        try:
            await self._out.erasure(record.key.encode(), encode(record))
        except Exception as exc:
            log.warning("erasure %s: record not taken by the broker (%s)", erased.erasure_id, exc)

    async def on_tick(self, partition: int) -> None:
        """Emit what is due on ``partition``; the plans say "done" once the broker has it."""
        now = self._clock.now()
        self.scheduler.refill(now, REFILL_SECONDS)  # reminders coming within the window
        result = self.scheduler.tick(partition, now)
        try:
            sent = [await self._out.due(r.key.encode(), encode(r)) for r in result.emitted]
            await asyncio.gather(*sent)
        except asyncio.CancelledError:  # stopping, or a rebalance: still listed if kept
            self.scheduler.put_back(result)
            raise
        except Exception as exc:  # whatever the cause, the next tick tries again
            self.scheduler.put_back(result)
            log.warning(
                "partition %d: %d due reminders not taken by the broker (%s); sent again next tick",
                partition,
                len(result.emitted),
                exc,
            )
            return
        self.scheduler.commit(result)
        self._metrics.record_produced(self._topics.due, len(result.emitted))
        for reminder in result.emitted:
            log.info(
                "due %s for booking %s",
                reminder.milestone,
                reminder.booking_id,
                extra={"reminder_id": reminder.reminder_id, "booking_id": reminder.booking_id},
            )
        await self._report_skipped(result.skipped)

    async def on_lost(self, lost: dict[TP, tuple[int, int]]) -> None:
        """Local plans were discarded (see :mod:`recovery`): say so and ask for a resync.

        A request the broker does not take is logged: the booking service also
        resyncs on its own when the broker has forgotten its marker.
        """
        self.scheduler.forget_index()  # indexed again from what is left once recovery completes
        reason = f"changelog shorter than the local plans of partitions {_described(lost)}"
        if self._forgetful:  # every restart of the embedded broker: expected, not a fault
            log.info("the embedded broker starts empty: %s discarded", reason)
        else:
            log.warning("%s: the broker lost them; local plans discarded", reason)
        covering = await self._covering(sorted(tp.partition for tp in lost))
        if covering is not None:
            log.info("no resync asked: %s", covering)
            return
        request = ResyncRequested(
            requested_by=f"reminders worker {self._worker_id}",
            reason=reason,
            requested_at=self._clock.now(),
        )
        try:
            await self._out.control(RESYNC_REQUEST, encode(request))
        except Exception as exc:
            log.warning("resync request not taken by the broker (%s)", exc)
            return
        log.info("resync asked of the booking service (request %s)", request.request_id)

    async def _covering(self, partitions: list[int]) -> str | None:
        """How a resync already queued covers ``partitions``; None (ask) when none does
        or that cannot be told (the broker did not answer)."""
        if self._covered is None:
            return None
        try:
            return await self._covered(partitions)
        except Exception as exc:
            log.info("whether a resync is already queued was not read (%s); asking", exc)
            return None

    async def _report_skipped(self, skipped: list[Skipped]) -> None:
        for one in skipped:
            for state in _skipped_statuses(one, self._clock):
                await self._out.status(one.booking.patient_key.encode(), encode(state))
                self._metrics.record_delivery(state.channel.value, state.state.value, state.reason)

    async def _dead_letter(self, record: Record, exc: Exception) -> None:
        reason = f"{type(exc).__name__}: {exc}"
        letter = DeadLetter.of(SERVICE, record, reason, self._clock.now())
        await self._out.dead_letter(record.key, encode(letter))
        self._metrics.record_produced(self._topics.bookings_dlq)
        log.warning(
            "dead-lettered %s:%s: %s",
            record.topic,
            record.offset,
            exc,
            extra={"topic": record.topic, "partition": record.partition, "offset": record.offset},
        )


def _described(lost: dict[TP, tuple[int, int]]) -> str:
    return ", ".join(
        f"{tp.partition} (kept to offset {stored}, changelog "
        + ("empty" if end < 0 else f"ends at {end}")
        + ")"
        for tp, (stored, end) in sorted(lost.items())
    )


def _say_planned(event: BookingEvent, state: PatientState) -> None:
    """One readable line per booking event: what is now planned for that booking."""
    if not log.isEnabledFor(logging.INFO):
        return
    booking, booking_id = event.data, event.data.booking_id
    plan = (
        ", ".join(  # a plan's pending reminders are kept in due order (Scheduler.apply)
            [
                f"{p.milestone} {str(p.due_at)[:16]}Z"
                for p in state.pending.values()
                if p.booking_id == booking_id
            ]
        )
        or "nothing"
    )
    log.info(
        "%s %s: planned %s",
        event.type.value,
        booking.booking_id,
        plan,
        extra={"booking_id": booking.booking_id, "clinic_id": booking.clinic_id},
    )


def _skipped_statuses(skipped: Skipped, clock: Clock) -> list[NotificationStatus]:
    return [
        NotificationStatus(
            reminder_id=skipped.pending.reminder_id,
            clinic_id=skipped.booking.clinic_id,
            booking_id=skipped.booking.booking_id,
            milestone=skipped.pending.milestone,
            channel=channel,
            state=DeliveryState.SKIPPED,
            reason=skipped.reason,
            occurred_at=clock.now(),
        )
        for channel in skipped.pending.channels
    ]
