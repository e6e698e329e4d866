"""The engine's rules: late bookings, quiet hours, daylight saving, ids, the due event."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Unpack

import pytest

from services.reminders.planning import (
    ClinicPolicy,
    ProtocolRegistry,
    UnknownTreatment,
    due_event,
    load_protocol,
    plan_patient,
    reminder_id,
)
from services.shared.clinics import QuietHours
from services.shared.events import ReminderDue, decode, encode
from tests.unit.planning.planning_helpers import (
    ProtocolFields,
    WriteProtocol,
    by_milestone,
    local,
    make_booking,
    minimal_protocol,
    plan,
)

NO_QUIET = ClinicPolicy(quiet=None)


def registry_of(
    write_protocol: WriteProtocol, **kwargs: Unpack[ProtocolFields]
) -> ProtocolRegistry:
    return ProtocolRegistry([load_protocol(write_protocol(minimal_protocol(**kwargs)))])


def test_plan_is_sorted_and_deterministic() -> None:
    bookings = [
        make_booking("2026-12-01T10:00", status="attended", booking_id="a"),
        make_booking("2026-11-01T10:00", kind="consultation", booking_id="c"),
    ]
    first = plan(*bookings)
    assert first == plan(*reversed(bookings))
    assert [(r.due_at, r.reminder_id) for r in first] == sorted(
        (r.due_at, r.reminder_id) for r in first
    )
    assert len({r.reminder_id for r in first}) == len(first)


def test_reminder_ids_are_deterministic_and_follow_the_schedule_version() -> None:
    assert reminder_id("c", "b", "m", 1) == reminder_id("c", "b", "m", 1)
    assert len(reminder_id("c", "b", "m", 1)) == 24
    assert reminder_id("c", "b", "m", 1) != reminder_id("c", "b", "m", 2)
    moved = plan(make_booking("2026-12-03T10:00", schedule_version=2))
    original = plan(make_booking("2026-12-01T10:00"))
    assert not {r.reminder_id for r in moved} & {r.reminder_id for r in original}


def test_late_booking_send_now_goes_at_booking_time_and_skip_is_dropped() -> None:
    booked_at = local("2026-11-29T14:30")
    planned = by_milestone(plan(make_booking(kind="consultation", booked_at=booked_at)))
    for name in (
        "consultation-assessment-advice",
        "consultation-suitability",
        "consultation-separate-day",
        "consultation-colder-months",
    ):
        assert planned[name].due_at == booked_at
        assert planned[name].context["sent_late"] is True
    assert "consultation-reminder" not in planned  # booked under 48h before


def test_late_booking_at_night_waits_for_the_morning() -> None:
    planned = by_milestone(
        plan(make_booking(kind="consultation", booked_at=local("2026-11-29T23:10")))
    )
    assert planned["consultation-suitability"].due_at == local("2026-11-30T08:00")


def test_booked_after_the_appointment_plans_nothing_before_it() -> None:
    planned = plan(make_booking(kind="consultation", booked_at=local("2026-12-01T11:00")))
    assert planned == []


def test_booked_at_least_condition(write_protocol: WriteProtocol) -> None:
    registry = registry_of(
        write_protocol,
        offset="24 hours before",
        at=None,
        late="send_now",
        more="    conditions: {booked_at_least: 3 days}\n",
    )
    early = make_booking(treatment="testing", booked_at=local("2026-11-27T10:00"))
    tight = make_booking(treatment="testing", booked_at=local("2026-11-28T10:01"))
    assert len(plan(early, registry=registry)) == 1
    assert plan(tight, registry=registry) == []


def test_late_skip_rule(write_protocol: WriteProtocol) -> None:
    registry = registry_of(write_protocol, offset="2 days before", late="skip")
    booking = make_booking(treatment="testing", booked_at=local("2026-11-29T12:00"))
    assert plan(booking, registry=registry) == []
    booking = make_booking(treatment="testing", booked_at=local("2026-11-29T09:59"))
    assert [r.due_at for r in plan(booking, registry=registry)] == [local("2026-11-29T10:00")]


def test_cancelled_trigger_milestones_are_planned(write_protocol: WriteProtocol) -> None:
    registry = registry_of(write_protocol, trigger="cancelled", offset="1 day after")
    planned = plan(make_booking(treatment="testing", status="cancelled"), registry=registry)
    assert [r.due_at for r in planned] == [local("2026-12-02T10:00")]


@pytest.mark.parametrize(
    ("quiet", "due_local"),
    [
        ((time(21, 0), time(8, 0)), "2026-12-02T08:00"),  # 23:45 end: next morning
        ((time(23, 0), time(6, 30)), "2026-12-02T06:30"),
        ((time(0, 0), time(0, 0)), "2026-12-01T23:45"),  # no quiet hours
    ],
)
def test_quiet_hours_move_to_the_next_allowed_time(
    write_protocol: WriteProtocol, quiet: tuple[time, time], due_local: str
) -> None:
    registry = registry_of(
        write_protocol,
        trigger="attended",
        offset="0 hours after",
        at=None,
        more="    anchor: end\n",
    )
    booking = make_booking("2026-12-01T23:00", treatment="testing", status="attended")
    policy = ClinicPolicy(quiet=QuietHours(start=quiet[0], end=quiet[1]))
    assert [r.due_at for r in plan(booking, registry=registry, policy=policy)] == [local(due_local)]


def test_quiet_hours_in_the_early_morning_move_to_that_morning() -> None:
    booking = make_booking("2026-12-01T07:00", kind="consultation")
    assert by_milestone(plan(booking))["consultation-reminder"].due_at == local("2026-11-30T08:00")


def test_a_message_pushed_past_its_staleness_is_dropped() -> None:
    late_evening = make_booking("2026-12-01T20:30", status="attended")
    assert "aftercare-today" not in by_milestone(plan(late_evening))


def test_daylight_saving_keeps_the_local_time() -> None:
    # Clocks go forward in London on 29 March 2026 and back on 25 October 2026.
    planned = by_milestone(plan(make_booking("2026-03-27T10:00", status="attended")))
    assert planned["aftercare-staining"].due_at == datetime(2026, 4, 3, 9, 0, tzinfo=UTC)
    assert planned["aftercare-staining"].due_at == local("2026-04-03T10:00")
    consult = by_milestone(plan(make_booking("2026-10-26T10:00", kind="consultation")))
    assert consult["consultation-suitability"].due_at == datetime(2026, 10, 19, 9, tzinfo=UTC)
    # An offset in hours is elapsed time: 24 h before 10:00 GMT is 10:00 GMT the day before.
    assert consult["consultation-reminder"].due_at == datetime(2026, 10, 25, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "at", "expected_utc"),
    [
        ("2026-03-31", "01:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),  # gap: 02:30 BST
        ("2026-10-27", "01:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),  # twice: first
    ],
)
def test_nonexistent_and_ambiguous_local_times(
    write_protocol: WriteProtocol, day: str, at: str, expected_utc: datetime
) -> None:
    registry = registry_of(write_protocol, offset="2 days before", at=f'"{at}"')
    booking = make_booking(f"{day}T10:00", treatment="testing")
    assert [r.due_at for r in plan(booking, registry=registry, policy=NO_QUIET)] == [expected_utc]


def test_unknown_treatment_is_refused() -> None:
    with pytest.raises(UnknownTreatment, match="botox"):
        plan(make_booking(treatment="botox"))


def test_due_event_carries_everything_the_notifier_needs() -> None:
    booking = make_booking("2026-12-01T10:00", status="attended", session=2, planned=4)
    reminder = by_milestone(plan_patient([booking], ProtocolRegistry.builtin(), ClinicPolicy()))[
        "aftercare-sun"
    ]
    emitted = datetime(2026, 12, 4, 10, 0, 1, tzinfo=UTC)
    event = due_event(booking, reminder, emitted)
    assert isinstance(event, ReminderDue)
    assert decode(ReminderDue, encode(event)) == event
    assert (event.reminder_id, event.milestone, event.template) == (
        reminder.reminder_id,
        "aftercare-sun",
        "aftercare-sun",
    )
    assert event.patient == booking.patient and event.kind == booking.kind
    assert event.appointment_start == booking.start and event.duration_minutes == 45
    assert (event.session_number, event.sessions_planned) == (2, 4)
    assert event.due_at == reminder.due_at and event.stale_at == reminder.stale_at
    assert event.context["no_sun_latest"] == "2027-01-12"
    assert event.emitted_at == emitted
