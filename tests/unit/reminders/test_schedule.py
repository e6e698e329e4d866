"""The durable schedule, on dicts in place of Faust tables."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry, UnknownTreatment
from services.reminders.schedule.schedule import Scheduler
from services.reminders.schedule.state import PatientState
from services.shared.events import BookingEventType, BookingStatus
from tests.unit.reminders.factories import BOOKED_AT, START, booking, event, fire, status

REGISTRY = ProtocolRegistry.builtin()
POLICY = ClinicPolicy(attendance="reported")  # attended events drive the aftercare here


def scheduler(patients: dict[str, bytes] | None = None) -> Scheduler:
    return Scheduler(
        {} if patients is None else patients,
        REGISTRY,
        lambda _: POLICY,
        bucket_seconds=60,
        max_lateness=timedelta(days=7),
    )


def run_until(
    s: Scheduler, start: datetime, end: datetime, step: timedelta, partition: int = 0
) -> list[tuple[datetime, str, str]]:
    """Tick from ``start`` to ``end``; what was emitted, when, as (now, id, milestone)."""
    out = []
    now = start
    while now <= end:
        for due in fire(s, partition, now).emitted:
            out.append((now, due.reminder_id, due.milestone))
        now += step
    return out


def test_booking_emits_each_planned_reminder_once_when_due() -> None:
    s = scheduler()
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    planned = {r.reminder_id: r for r in plan_patient([made], REGISTRY, POLICY)}
    sent = run_until(s, BOOKED_AT, START + timedelta(days=1), timedelta(minutes=30))
    assert sorted(rid for _, rid, _ in sent) == sorted(planned)
    for now, rid, _ in sent:
        assert planned[rid].due_at <= now < planned[rid].due_at + timedelta(minutes=30)


def test_cancelled_booking_sends_nothing_more() -> None:
    s = scheduler()
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    s.apply(status(made, BookingStatus.CANCELLED, BookingEventType.CANCELLED), 0, BOOKED_AT)
    assert run_until(s, BOOKED_AT, START + timedelta(days=90), timedelta(hours=1)) == []


def test_reschedule_replaces_the_plan_with_new_ids() -> None:
    s = scheduler()
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    moved = made.model_copy(update={"start": START + timedelta(days=7), "schedule_version": 2})
    s.apply(event(moved, BookingEventType.RESCHEDULED), 0, BOOKED_AT + timedelta(hours=1))
    old = {r.reminder_id for r in plan_patient([made], REGISTRY, POLICY)}
    new = {r.reminder_id for r in plan_patient([moved], REGISTRY, POLICY)}
    sent = run_until(s, BOOKED_AT, START + timedelta(days=8), timedelta(hours=1))
    assert {rid for _, rid, _ in sent} == new
    assert not old & new


def test_attended_starts_aftercare() -> None:
    s = scheduler()
    made = booking(start=BOOKED_AT + timedelta(days=2))
    s.apply(event(made), 0, BOOKED_AT)
    came = status(made, BookingStatus.ATTENDED, BookingEventType.ATTENDED)
    s.apply(came, 0, made.start + timedelta(hours=1))
    sent = run_until(s, made.start, made.start + timedelta(days=30), timedelta(hours=1))
    assert any(m.startswith("aftercare") for _, _, m in sent)


def test_reminder_due_while_worker_was_down_goes_out_late_unless_stale() -> None:
    s = scheduler()
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    fire(s, 0, BOOKED_AT)
    late = fire(s, 0, START - timedelta(hours=1))
    planned = plan_patient([made], REGISTRY, POLICY)
    assert {d.reminder_id for d in late.emitted} == {r.reminder_id for r in planned}
    s2 = scheduler()
    s2.apply(event(made), 0, BOOKED_AT)
    fire(s2, 0, BOOKED_AT)
    after = fire(s2, 0, START + timedelta(hours=1))
    assert after.emitted == []
    assert {k.pending.reminder_id for k in after.skipped} == {r.reminder_id for r in planned}
    assert all(k.reason.startswith("stale") for k in after.skipped)


def test_each_partition_fires_only_its_own_reminders() -> None:
    s = scheduler()
    s.apply(event(booking("bk-a", "p-a")), 0, BOOKED_AT)
    s.apply(event(booking("bk-b", "p-b")), 1, BOOKED_AT)
    fire(s, 0, BOOKED_AT)
    fire(s, 1, BOOKED_AT)
    on_zero = fire(s, 0, START - timedelta(hours=1)).emitted
    assert on_zero and {d.booking_id for d in on_zero} == {"bk-a"}


def test_unknown_treatment_changes_nothing() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    with pytest.raises(UnknownTreatment):
        s.apply(event(booking(treatment="tattoo-removal")), 0, BOOKED_AT)
    assert patients == {} and len(s.index) == 0


def test_index_is_empty_once_everything_fired() -> None:
    s = scheduler()
    s.apply(event(booking()), 0, BOOKED_AT)
    assert len(s.index) > 0
    run_until(s, BOOKED_AT, START + timedelta(days=2), timedelta(hours=6))
    assert len(s.index) == 0


def test_a_restarted_worker_rebuilds_its_index_from_the_table_and_misses_nothing() -> None:
    patients: dict[str, bytes] = {}
    before = scheduler(patients)
    made = booking()
    before.apply(event(made), 0, BOOKED_AT)
    other = booking("bk-other", "p-other")
    before.apply(event(other), 1, BOOKED_AT)
    first = run_until(before, BOOKED_AT, BOOKED_AT + timedelta(days=15), timedelta(hours=1))
    after = scheduler(patients)
    assert after.rebuild([0]) > 0
    rest = run_until(after, START - timedelta(hours=2), START, timedelta(hours=1))
    planned = {r.reminder_id for r in plan_patient([made], REGISTRY, POLICY)}
    assert {rid for _, rid, _ in first} | {rid for _, rid, _ in rest} == planned
    assert not {rid for _, rid, _ in first} & {rid for _, rid, _ in rest}
    assert PatientState.from_value(patients["dr-jenny:p-other"]).partition == 1
    assert fire(after, 1, START).emitted == [], "partition 1 is not this worker's"


def test_a_tick_not_committed_leaves_its_reminders_due_for_a_restarted_worker() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    s.apply(event(booking()), 0, BOOKED_AT)
    fire(s, 0, BOOKED_AT)
    found = s.tick(0, START - timedelta(hours=1))
    assert found.emitted and found.plans
    assert len(PatientState.from_value(patients["dr-jenny:p-42"]).pending) == len(
        plan_patient([booking()], REGISTRY, POLICY)
    ), "nothing is marked done before the commit"
    restarted = scheduler(patients)
    restarted.rebuild([0])
    again = fire(restarted, 0, START - timedelta(hours=1))
    assert [d.reminder_id for d in again.emitted] == [d.reminder_id for d in found.emitted]
    assert fire(restarted, 0, START - timedelta(hours=1)).emitted == []


def test_a_tick_the_broker_did_not_take_is_put_back_and_fired_again_once() -> None:
    s = scheduler()
    s.apply(event(booking()), 0, BOOKED_AT)
    fire(s, 0, BOOKED_AT)
    failed = s.tick(0, START - timedelta(hours=1))
    assert failed.emitted
    assert s.tick(0, START - timedelta(hours=1)).emitted == [], "taken out of the index"
    s.put_back(failed)
    again = fire(s, 0, START - timedelta(hours=1))
    assert [d.reminder_id for d in again.emitted] == [d.reminder_id for d in failed.emitted]
    assert fire(s, 0, START - timedelta(hours=1)).emitted == []


def test_replayed_event_after_firing_sends_nothing_twice() -> None:
    s = scheduler()
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    first = run_until(s, BOOKED_AT, START, timedelta(hours=1))
    s.apply(event(made), 0, START)
    again = run_until(s, START, START + timedelta(days=1), timedelta(hours=1))
    assert first and again == []


def test_a_reminder_due_but_not_yet_fired_that_an_event_makes_moot_is_skipped_with_why() -> None:
    s = scheduler()
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    fire(s, 0, BOOKED_AT)
    came = status(made, BookingStatus.ATTENDED, BookingEventType.ATTENDED)
    applied = s.apply(came, 0, START + timedelta(hours=1))
    planned = {r.reminder_id for r in plan_patient([made], REGISTRY, POLICY)}
    assert {k.pending.reminder_id for k in applied.skipped} == planned
    assert all(k.reason == "no longer applies after booking.attended" for k in applied.skipped)
    assert all(applied.state.done[rid] == "skipped" for rid in planned)
    later = run_until(s, START + timedelta(hours=1), START + timedelta(days=2), timedelta(hours=1))
    assert not {rid for _, rid, _ in later} & planned


def test_a_cancel_before_anything_came_due_skips_nothing() -> None:
    s = scheduler()
    made = booking()
    s.apply(event(made), 0, BOOKED_AT)
    gone = s.apply(status(made, BookingStatus.CANCELLED, BookingEventType.CANCELLED), 0, BOOKED_AT)
    assert gone.skipped == [] and gone.state.pending == {}


def test_a_confirmation_keeps_the_plan_as_it_was() -> None:
    s = scheduler()
    made = booking()
    planned = s.apply(event(made), 0, BOOKED_AT).state.pending
    applied = s.apply(event(made, BookingEventType.CONFIRMED), 0, BOOKED_AT + timedelta(days=5))
    assert applied.skipped == []
    assert applied.state.pending == planned


def test_a_pending_reminder_is_the_planned_one_with_its_bucket() -> None:
    """Pending copies PlannedReminder field by field: the two stay in step."""
    from dataclasses import asdict, fields

    from services.reminders.planning.engine import PlannedReminder
    from services.reminders.schedule.state import Pending

    planned = plan_patient([booking()], ProtocolRegistry.builtin(), ClinicPolicy())[0]
    names = [f.name for f in fields(Pending)]
    assert names == [f.name for f in fields(PlannedReminder)] + ["bucket", "catch_up"]
    pending = Pending.of(planned, 60, catch_up=True)
    assert {**asdict(pending), "context": planned.context} == {
        **{n: getattr(planned, n) for n in names[:-2]},
        "bucket": 60,
        "catch_up": True,
    }
