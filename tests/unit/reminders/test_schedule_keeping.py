"""A plan with nothing left pending is forgotten as the booking store forgets its bookings:
400 days after the latest appointment, 30 days after a cancel (``Keeping``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Keeping, Scheduler
from services.reminders.schedule.state import PatientState
from services.shared.events import BookingEventType, BookingStatus
from tests.unit.reminders.factories import BOOKED_AT, START, booking, event, fire, status

REGISTRY = ProtocolRegistry.builtin()
KEEPING = Keeping(finished=timedelta(days=400), cancelled=timedelta(days=30))
DAY = timedelta(days=1)
KEY = "dr-jenny:p-42"


def scheduler(patients: dict[str, bytes]) -> Scheduler:
    return Scheduler(
        patients, REGISTRY, lambda _: ClinicPolicy(), bucket_seconds=60, keeping=KEEPING
    )


def run(s: Scheduler, start: datetime, end: datetime, step: timedelta) -> int:
    """Ticks from ``start`` to ``end``; how many reminders went out."""
    sent, now = 0, start
    while now <= end:
        sent += len(fire(s, 0, now).emitted)
        now += step
    return sent


def test_a_finished_plan_is_kept_400_days_after_the_appointment_then_forgotten() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    s.apply(event(booking()), 0, BOOKED_AT)
    assert run(s, BOOKED_AT, START + 395 * DAY, DAY) > 0  # the whole plan, recall included
    state = PatientState.from_value(patients[KEY])
    assert state.pending == {} and state.forget_at == START + 400 * DAY
    fire(s, 0, START + 400 * DAY - timedelta(minutes=1))
    assert KEY in patients
    tick = fire(s, 0, START + 400 * DAY)
    assert list(tick.forgotten) == [KEY] and KEY not in patients
    assert s.counts.as_dict()["patients"] == 0


def test_a_cancelled_plan_goes_30_days_after_the_cancel() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    cancelled_at = BOOKED_AT + 2 * DAY
    s.apply(status(made, BookingStatus.CANCELLED, BookingEventType.CANCELLED), 0, cancelled_at)
    assert PatientState.from_value(patients[KEY]).forget_at == cancelled_at + 30 * DAY
    fire(s, 0, cancelled_at + 29 * DAY)
    assert KEY in patients
    fire(s, 0, cancelled_at + 30 * DAY)
    assert KEY not in patients


def test_a_new_booking_before_the_time_keeps_the_plan() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    s.apply(status(made, BookingStatus.CANCELLED, BookingEventType.CANCELLED), 0, BOOKED_AT)
    later = booking("bk-2002", start=START + 60 * DAY)
    s.apply(event(later), 0, BOOKED_AT + 10 * DAY)
    assert PatientState.from_value(patients[KEY]).forget_at is None  # reminders pending
    fire(s, 0, BOOKED_AT + 40 * DAY)
    assert KEY in patients


def test_a_plan_written_before_keeping_gets_its_time_after_a_restart() -> None:
    """Plans in a changelog from an earlier release have no forget time: the rebuilt
    index looks at them at once, and the tick works the time out and writes it."""
    patients: dict[str, bytes] = {}
    old = scheduler(patients)
    old.apply(event(booking()), 0, BOOKED_AT)
    run(old, BOOKED_AT, START + 395 * DAY, DAY)
    value = orjson.loads(patients[KEY])
    value.pop("forget_at")
    patients[KEY] = orjson.dumps(value)
    restarted = scheduler(patients)
    restarted.rebuild([0])
    tick = fire(restarted, 0, START + 396 * DAY)
    assert PatientState.from_value(patients[KEY]).forget_at == START + 400 * DAY
    assert tick.forgotten == {}
    fire(restarted, 0, START + 400 * DAY)
    assert KEY not in patients


def test_without_keeping_a_finished_plan_stays() -> None:
    patients: dict[str, bytes] = {}
    s = Scheduler(patients, REGISTRY, lambda _: ClinicPolicy(), bucket_seconds=60)
    s.apply(event(booking()), 0, BOOKED_AT)
    run(s, BOOKED_AT, START + 800 * DAY, 10 * DAY)
    assert PatientState.from_value(patients[KEY]).forget_at is None
