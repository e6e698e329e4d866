"""Plans rebuilt after the broker lost them; reminders due while the worker was down."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Scheduler
from services.shared.events import BookingEventType
from services.shared.lateness import MISSED
from tests.unit.reminders.factories import BOOKED_AT, START, booking, event, fire

REGISTRY = ProtocolRegistry.builtin()
LATENESS = timedelta(days=7)
REPORTED = ClinicPolicy(attendance="reported")


def scheduler() -> Scheduler:
    return Scheduler({}, REGISTRY, lambda _: REPORTED, 60, LATENESS)


def planned() -> dict[str, datetime]:
    """Due instant by reminder id of the test booking's whole plan."""
    return {r.reminder_id: r.due_at for r in plan_patient([booking()], REGISTRY, REPORTED)}


def test_a_rebuilt_plan_hands_what_came_due_to_the_notifier_even_if_stale() -> None:
    s = scheduler()
    now = START + timedelta(hours=2)  # past the start: every pre-appointment one is stale
    s.apply(event(booking(), BookingEventType.RESYNCED), 0, now)
    tick = fire(s, 0, now)

    recent = {rid for rid, due in planned().items() if now - LATENESS <= due <= now}
    assert recent, "the booking should have reminders due in the last week"
    assert {d.reminder_id for d in tick.emitted} == recent
    assert all(d.catch_up for d in tick.emitted)
    assert tick.skipped == []


def test_what_came_due_long_before_a_rebuild_is_left_to_the_ledger() -> None:
    s = scheduler()
    now = START + timedelta(hours=2)
    s.apply(event(booking(), BookingEventType.RESYNCED), 0, now)
    tick = fire(s, 0, now)
    long_past = [rid for rid, due in planned().items() if now - due > LATENESS]
    assert long_past, "the consultation fee reminder went out at booking, 20 days before"
    assert not {d.reminder_id for d in tick.emitted} & set(long_past)
    assert not {k.pending.reminder_id for k in tick.skipped} & set(long_past)
    assert fire(s, 0, now + timedelta(days=1)).emitted == []


def test_a_resync_of_a_plan_the_worker_still_holds_emits_nothing_again() -> None:
    s = scheduler()
    s.apply(event(booking()), 0, BOOKED_AT)
    first = fire(s, 0, START - timedelta(hours=1))
    assert first.emitted
    s.apply(event(booking(), BookingEventType.RESYNCED), 0, START - timedelta(minutes=30))
    again = fire(s, 0, START - timedelta(minutes=30))
    assert again.emitted == [] and again.skipped == []


def test_a_reminder_that_went_stale_while_the_worker_was_down_is_missed() -> None:
    s = scheduler()
    s.apply(event(booking()), 0, BOOKED_AT)
    fire(s, 0, START - timedelta(days=4))  # what was due then went out
    s.started_at = START + timedelta(hours=1)  # down from four days before to after the start
    tick = fire(s, 0, s.started_at)

    assert tick.emitted == []
    assert tick.skipped
    assert all(k.reason.startswith(f"{MISSED}: due ") for k in tick.skipped), tick.skipped
