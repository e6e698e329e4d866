"""Ops summaries of the schedule: running counts and the next hour, against a full recount."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Scheduler
from services.reminders.schedule.state import PatientState
from services.reminders.schedule.stats import describe
from services.shared.events import BookingEventType, BookingStatus
from tests.unit.reminders.factories import BOOKED_AT, START, booking, event, fire, status

HOUR = timedelta(hours=1)


REPORTED = ClinicPolicy(attendance="reported")


def recount(patients: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Every figure the way the views once got it: by reading every plan."""
    states = [PatientState.from_value(v) for v in patients.values()]
    pending = [p for s in states for p in s.pending.values()]
    outcomes = Counter(o.value for s in states for o in s.done.values())
    return {
        "patients": len(states),
        "pending": len(pending),
        "emitted": outcomes["emitted"],
        "skipped": outcomes["skipped"],
        "pending_by_milestone": dict(sorted(Counter(p.milestone for p in pending).items())),
        "due_next_hour": sum(p.due_at <= now + HOUR for p in pending),
        "next_due": min((p.due_at for p in pending), default=None),
    }


def kept(s: Scheduler, now: datetime) -> dict[str, Any]:
    due_soon, next_due = s.outlook(now, HOUR)
    return {**s.counts.as_dict(), "due_next_hour": due_soon, "next_due": next_due}


def test_running_counts_and_the_next_hour_match_a_full_recount_at_every_step() -> None:
    patients: dict[str, Any] = {}
    s = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: REPORTED)
    s.rebuild([0])
    made = [booking(f"bk-{n}", f"p-{n}", start=START + timedelta(days=n)) for n in range(4)]
    now = BOOKED_AT
    for one in made:
        s.apply(event(one), 0, now)
        assert kept(s, now) == recount(patients, now)
    steps: list[Callable[[datetime], object]] = [
        lambda t: s.apply(
            event(
                made[1].model_copy(update={"start": START + timedelta(days=9)}),
                kind=BookingEventType.RESCHEDULED,
            ),
            0,
            t,
        ),
        lambda t: s.apply(
            status(made[2], BookingStatus.CANCELLED, BookingEventType.CANCELLED), 0, t
        ),
        lambda t: fire(s, 0, t),
        lambda t: s.apply(status(made[0], BookingStatus.ATTENDED, BookingEventType.ATTENDED), 0, t),
        lambda t: fire(s, 0, t),
    ]
    for n, step in enumerate(steps):
        now = START - timedelta(hours=3) + timedelta(hours=n)
        step(now)
        assert kept(s, now) == recount(patients, now), f"after step {n}"
    later = START + timedelta(days=2)
    fire(s, 0, later)
    assert kept(s, later) == recount(patients, later)
    assert s.counts.as_dict()["emitted"] > 0

    restarted = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: REPORTED)
    restarted.rebuild([0])
    assert kept(restarted, later) == recount(patients, later)


def test_describe_shows_one_booking_of_a_patient() -> None:
    patients: dict[str, bytes] = {}
    s = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: REPORTED)
    s.apply(event(booking("bk-1")), 0, BOOKED_AT)
    s.apply(
        event(booking("bk-2", start=START + timedelta(days=40), session_number=2)), 0, BOOKED_AT
    )
    state = PatientState.from_value(patients["dr-jenny:p-42"])
    one = describe(state, "bk-2")
    assert [b["booking_id"] for b in one["bookings"]] == ["bk-2"]
    assert one["pending"] and {p["booking_id"] for p in one["pending"]} == {"bk-2"}
    dues = [p["due_at"] for p in one["pending"]]
    assert dues == sorted(dues)
