"""The worker's handling of each record, driven without Faust: plan, fire, put back, dead-letter."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from faust.types import TP

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Scheduler
from services.reminders.worker.handling import WorkerHandling
from services.shared.clock import ManualClock
from services.shared.control import RESYNC_REQUEST, ResyncRequested
from services.shared.erasure import ErasureKeys, ErasureRecord, PatientErased
from services.shared.events import BookingEventType, DeadLetter, ReminderDue, decode, encode
from services.shared.metrics import PlatformMetrics
from services.shared.topics import Topics
from tests.unit.reminders.factories import BOOKED_AT, START, booking, event

TOPICS = Topics("unit.")
KEYS = ErasureKeys(b"k" * 32)


@dataclass(frozen=True)
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class FakeOutbound:
    """Records what the worker sends; the broker refuses due reminders while ``down``."""

    def __init__(self) -> None:
        self.due_sent: list[ReminderDue] = []
        self.statuses: list[bytes] = []
        self.dead: list[DeadLetter] = []
        self.control_sent: list[tuple[bytes, bytes]] = []
        self.erasures: list[ErasureRecord] = []
        self.down = False

    async def due(self, key: bytes, value: bytes) -> Awaitable[Any]:
        acked: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.down:
            acked.set_exception(ConnectionError("broker unreachable"))
        else:
            self.due_sent.append(decode(ReminderDue, value))
            acked.set_result(None)
        return acked

    async def status(self, key: bytes, value: bytes) -> None:
        self.statuses.append(value)

    async def dead_letter(self, key: bytes | None, value: bytes) -> None:
        self.dead.append(decode(DeadLetter, value))

    async def control(self, key: bytes, value: bytes) -> None:
        self.control_sent.append((key, value))

    async def erasure(self, key: bytes, value: bytes) -> None:
        self.erasures.append(decode(ErasureRecord, value))


def handling(
    clock: ManualClock, covered: Callable[[list[int]], Awaitable[str | None]] | None = None
) -> tuple[WorkerHandling, FakeOutbound]:
    policy = ClinicPolicy(attendance="reported")
    scheduler = Scheduler({}, ProtocolRegistry.builtin(), lambda _: policy)
    out = FakeOutbound()
    metrics = PlatformMetrics("reminders")
    made = WorkerHandling(
        scheduler, out, clock, metrics, TOPICS, "7", lambda: [0], KEYS, covered=covered
    )
    made.index_owned_partitions()
    return made, out


def booking_record(value: bytes, offset: int = 0) -> Message:
    return Message(TOPICS.bookings, 0, offset, b"dr-jenny:p-42", value)


def tick() -> Message:
    return Message(TOPICS.ticks, 0, 0, None, b"")


def test_a_booking_is_planned_and_its_reminders_go_out_when_due() -> None:
    clock = ManualClock(BOOKED_AT)
    worker, out = handling(clock)
    asyncio.run(worker.on_record(booking_record(encode(event(booking())))))
    clock.set(START - timedelta(hours=1))
    asyncio.run(worker.on_record(tick()))
    assert {d.milestone for d in out.due_sent} >= {"treatment-prepare", "treatment-reminder"}
    asyncio.run(worker.on_record(tick()))
    assert len(out.due_sent) == len({d.reminder_id for d in out.due_sent}), "nothing twice"


def test_reminders_the_broker_refused_go_out_at_the_next_tick() -> None:
    clock = ManualClock(BOOKED_AT)
    worker, out = handling(clock)
    asyncio.run(worker.on_record(booking_record(encode(event(booking())))))
    clock.set(START - timedelta(hours=1))
    out.down = True
    asyncio.run(worker.on_record(tick()))
    assert out.due_sent == []
    out.down = False
    asyncio.run(worker.on_record(tick()))
    assert {d.milestone for d in out.due_sent} >= {"treatment-prepare", "treatment-reminder"}


def test_an_event_that_is_not_a_booking_event_is_dead_lettered_with_its_reason() -> None:
    worker, out = handling(ManualClock(BOOKED_AT))
    asyncio.run(worker.on_record(booking_record(b'{"type": "booking.created"}', offset=41)))
    [letter] = out.dead
    assert (letter.service, letter.topic, letter.offset) == ("reminders", TOPICS.bookings, 41)
    assert "InvalidEvent" in letter.reason and "data" in letter.reason


def test_an_unknown_treatment_is_dead_lettered() -> None:
    worker, out = handling(ManualClock(BOOKED_AT))
    unknown = event(booking()).model_copy(
        update={"data": booking().model_copy(update={"treatment": "botox"})}
    )
    asyncio.run(worker.on_record(booking_record(encode(unknown))))
    assert [d.reason.split(":")[0] for d in out.dead] == ["UnknownTreatment"]


def test_lost_plans_are_reported_as_a_resync_request() -> None:
    worker, out = handling(ManualClock(BOOKED_AT))
    asyncio.run(worker.on_lost({TP("unit.changelog", 2): (37, -1)}))
    [(key, value)] = out.control_sent
    request = decode(ResyncRequested, value)
    assert key == RESYNC_REQUEST and request.requested_by == "reminders worker 7"
    assert "2 (kept to offset 37, changelog empty)" in request.reason
    assert worker.scheduler.index.partitions == frozenset()


def test_lost_plans_a_queued_resync_covers_ask_for_nothing() -> None:
    asked: list[list[int]] = []

    async def covered(partitions: list[int]) -> str | None:
        asked.append(partitions)
        return "the booking store's resync covers them"

    worker, out = handling(ManualClock(BOOKED_AT), covered)
    asyncio.run(
        worker.on_lost({TP("unit.changelog", 2): (37, -1), TP("unit.changelog", 0): (5, 1)})
    )
    assert asked == [[0, 2]] and out.control_sent == []
    assert worker.scheduler.index.partitions == frozenset()


def test_lost_plans_are_asked_for_when_whether_a_resync_covers_them_is_not_known() -> None:
    async def unreadable(partitions: list[int]) -> str | None:
        raise TimeoutError("control topic not read to its end")

    worker, out = handling(ManualClock(BOOKED_AT), unreadable)
    asyncio.run(worker.on_lost({TP("unit.changelog", 2): (37, -1)}))
    [(key, _)] = out.control_sent
    assert key == RESYNC_REQUEST


def test_a_confirmation_is_planned_as_before_and_never_dead_lettered() -> None:
    clock = ManualClock(BOOKED_AT)
    worker, out = handling(clock)
    made = booking()
    asyncio.run(worker.on_record(booking_record(encode(event(made)))))
    before = worker.scheduler.index.listed_until(10**12)
    clock.advance(timedelta(days=10))
    confirmed = event(made, BookingEventType.CONFIRMED)
    asyncio.run(worker.on_record(booking_record(encode(confirmed), offset=1)))
    assert out.dead == [] and out.statuses == []
    assert worker.scheduler.index.listed_until(10**12) == before
    clock.set(START - timedelta(hours=1))
    asyncio.run(worker.on_record(tick()))
    assert {d.milestone for d in out.due_sent} >= {"treatment-prepare", "treatment-reminder"}
    assert {d.schedule_version for d in out.due_sent} == {1}


def erased(patient_id: str = "p-42") -> bytes:
    return encode(PatientErased(clinic_id="dr-jenny", patient_id=patient_id, erased_at=BOOKED_AT))


def test_an_erased_patient_loses_the_plan_and_nothing_of_theirs_goes_out() -> None:
    clock = ManualClock(BOOKED_AT)
    worker, out = handling(clock)
    asyncio.run(worker.on_record(booking_record(encode(event(booking())))))
    asyncio.run(worker.on_record(booking_record(encode(event(booking("bk-2"))), offset=1)))
    plans: dict[str, bytes] = worker.scheduler._patients  # type: ignore[assignment]
    assert "dr-jenny:p-42" in plans

    asyncio.run(worker.on_record(booking_record(erased(), offset=2)))
    clock.set(START - timedelta(hours=1))
    asyncio.run(worker.on_record(tick()))

    assert plans == {} and out.due_sent == [] and out.dead == []
    [record] = out.erasures
    assert record.service == "reminders" and record.patient_hash == KEYS.patient("dr-jenny", "p-42")
    assert record.counts["plans"] == 1 and record.counts["bookings"] == 2
    assert record.counts["pending_reminders"] > 0
    assert worker.scheduler.counts.as_dict()["patients"] == 0
    assert worker.scheduler.counts.as_dict()["pending"] == 0


def test_an_erasure_of_a_patient_without_a_plan_is_recorded_with_nothing_deleted() -> None:
    worker, out = handling(ManualClock(BOOKED_AT))
    asyncio.run(worker.on_record(booking_record(erased("p-nobody"))))
    [record] = out.erasures
    assert record.counts["plans"] == 0 and out.dead == []


def test_a_patient_who_comes_back_after_an_erasure_is_planned_afresh() -> None:
    clock = ManualClock(BOOKED_AT)
    worker, out = handling(clock)
    asyncio.run(worker.on_record(booking_record(encode(event(booking())))))
    asyncio.run(worker.on_record(booking_record(erased(), offset=1)))
    asyncio.run(worker.on_record(booking_record(encode(event(booking("bk-3"))), offset=2)))
    clock.set(START - timedelta(hours=1))
    asyncio.run(worker.on_record(tick()))
    assert {d.booking_id for d in out.due_sent} == {"bk-3"}
