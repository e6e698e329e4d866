"""Attendance assumed or reported, and courses counted from the sessions a patient had."""

from __future__ import annotations

from datetime import timedelta

from services.reminders.planning import ClinicPolicy
from tests.unit.planning.planning_helpers import make_booking, plan

ASSUMED = ClinicPolicy()  # the default
REPORTED = ClinicPolicy(attendance="reported")
AFTERCARE = {"aftercare-today", "aftercare-stockings", "aftercare-clot-check"}


def names(*bookings: object, policy: ClinicPolicy = ASSUMED) -> set[str]:
    return {r.milestone for r in plan(*bookings, policy=policy)}  # type: ignore[arg-type]


def test_assumed_plans_a_booked_treatment_s_aftercare_from_its_end_at_once() -> None:
    booked = make_booking("2026-12-01T10:00", duration=45)
    planned = {r.milestone: r for r in plan(booked, policy=ASSUMED)}
    assert set(planned) >= AFTERCARE
    assert planned["aftercare-today"].due_at == booked.start + timedelta(minutes=45)
    assert "treatment-reminder" in planned  # and the reminders before it, as ever


def test_reported_waits_for_attended() -> None:
    booked = make_booking()
    assert not AFTERCARE & names(booked, policy=REPORTED)
    assert names(make_booking(status="attended"), policy=REPORTED) >= AFTERCARE


def test_a_cancel_or_a_no_show_takes_assumed_aftercare_back() -> None:
    for status in ("cancelled", "no_show"):
        assert not AFTERCARE & names(make_booking(status=status))


def test_under_assumed_attended_changes_no_reminder_id() -> None:
    booked = {r.reminder_id for r in plan(make_booking(), policy=ASSUMED)}
    attended = plan(make_booking(status="attended"), policy=ASSUMED)
    assert {r.reminder_id for r in attended if r.milestone.startswith("aftercare-")} <= booked


def test_the_third_attended_session_completes_a_three_session_course() -> None:
    sessions = [
        make_booking(f"2026-{m:02d}-01T10:00", booking_id=f"s{m}", status="attended", planned=3)
        for m in (1, 3, 5)
    ]
    planned = plan(*sessions, policy=REPORTED)
    assert [r.booking_id for r in planned if r.milestone == "maintenance-recall"] == ["s5"]
    assert "next-session-nudge" not in {r.milestone for r in planned if r.booking_id == "s5"}


def test_a_cancelled_second_session_does_not_count() -> None:
    first = make_booking("2026-01-01T10:00", booking_id="s1", status="attended", planned=3)
    cancelled = make_booking("2026-03-01T10:00", booking_id="s2", status="cancelled", planned=3)
    third = make_booking("2026-05-01T10:00", booking_id="s3", status="attended", planned=3)
    planned = plan(first, cancelled, third, policy=REPORTED)
    assert "maintenance-recall" not in {r.milestone for r in planned}
    later = {r.milestone for r in planned if r.booking_id == "s3"}
    assert "next-session-nudge" in later  # it was the second session: one more to go


def test_the_session_number_is_counted_whatever_the_booking_says() -> None:
    earlier = [
        make_booking(f"2026-0{m}-01T10:00", booking_id=f"s{m}", status="attended") for m in (1, 3)
    ]
    third = make_booking("2026-05-01T10:00", booking_id="s5", status="attended", session=1)
    recall = [r for r in plan(*earlier, third, policy=REPORTED) if r.booking_id == "s5"]
    assert "maintenance-recall" in {r.milestone for r in recall}
    assert {r.context["session_number"] for r in recall} == {3}


def test_without_a_planned_count_the_course_is_the_typical_most() -> None:
    sessions = [
        make_booking(f"2026-{m:02d}-01T10:00", booking_id=f"s{m}", status="attended", planned=None)
        for m in (1, 3, 5, 7)
    ]
    recall = [
        r.booking_id
        for r in plan(*sessions, policy=REPORTED)
        if r.milestone == "maintenance-recall"
    ]
    assert recall == ["s7"]  # the pages: "between 2 to 4 sessions"
