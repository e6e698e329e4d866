"""Every timing fact of the microsclerotherapy pages, as the engine plans it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import pytest

from services.reminders.planning import ClinicPolicy, PlannedReminder
from services.shared.events import Channel
from tests.unit.planning.planning_helpers import REGISTRY, by_milestone, local, make_booking, plan

LONDON = ZoneInfo("Europe/London")
PROTOCOL = REGISTRY.get("microsclerotherapy")


def local_of(instant: datetime) -> datetime:
    return instant.astimezone(LONDON)


def aftercare(session: int = 1, planned: int | None = 3) -> dict[str, PlannedReminder]:
    """Plan of an attended treatment (the first by default), 1 Dec 2026 10:00-10:45 London."""
    treatment = make_booking(
        "2026-12-01T10:00", status="attended", session=session, planned=planned
    )
    return by_milestone(plan(treatment))


def day_after_treatment(instant: datetime) -> int:
    return (local_of(instant).date() - date(2026, 12, 1)).days


def test_course_rules_are_in_the_protocol() -> None:
    course = PROTOCOL.course
    assert (course.sessions.typical_min, course.sessions.typical_max) == (2, 4)
    assert course.sessions.max == 6
    assert course.interval.amounts() == (4, 6) and course.interval.unit.value == "weeks"
    assert course.treatment_minutes == (30, 45)
    assert course.consultation_first is True
    assert course.anaesthetic is False
    assert set(course.maintenance) == {"annual", "biannual"}


def test_consultation_gets_its_own_messages_and_no_treatment_ones() -> None:
    planned = by_milestone(plan(make_booking("2026-12-01T10:00", kind="consultation")))
    assert set(planned) == {
        "consultation-assessment-advice",
        "consultation-colder-months",
        "consultation-suitability",
        "consultation-separate-day",
        "consultation-reminder",
    }
    for reminder in planned.values():
        assert reminder.template == reminder.milestone
        assert reminder.due_at < local("2026-12-01T10:00")
        assert reminder.stale_at == local("2026-12-01T10:00")


@pytest.mark.parametrize(
    ("milestone", "due_local"),
    [
        ("consultation-assessment-advice", "2026-11-17T10:00"),
        ("consultation-colder-months", "2026-11-21T10:00"),
        ("consultation-suitability", "2026-11-24T10:00"),
        ("consultation-separate-day", "2026-11-28T10:00"),
        ("consultation-reminder", "2026-11-30T10:00"),
    ],
)
def test_before_the_consultation(milestone: str, due_local: str) -> None:
    planned = by_milestone(plan(make_booking("2026-12-01T10:00", kind="consultation")))
    assert planned[milestone].due_at == local(due_local)


def test_suitability_questions_go_by_email_and_sms() -> None:
    planned = by_milestone(plan(make_booking(kind="consultation")))
    assert planned["consultation-suitability"].channels == (Channel.EMAIL, Channel.SMS)


def test_consultation_fee_is_mentioned_before_the_first_treatment_only() -> None:
    first = by_milestone(plan(make_booking(session=1)))
    second = by_milestone(plan(make_booking(session=2)))
    assert first["treatment-consultation-fee"].due_at == local("2026-11-24T10:00")
    assert "treatment-consultation-fee" not in second


def test_before_a_treatment() -> None:
    planned = by_milestone(plan(make_booking("2026-12-01T10:00")))
    assert planned["treatment-prepare"].due_at == local("2026-11-28T10:00")
    assert planned["treatment-prepare"].context["treatment_minutes_min"] == 30
    assert planned["treatment-prepare"].context["treatment_minutes_max"] == 45
    assert planned["treatment-reminder"].due_at == local("2026-11-30T10:00")
    assert not any(m.startswith("aftercare") for m in planned)


def test_on_the_day_right_after_treatment_and_stale_that_evening() -> None:
    today = aftercare()["aftercare-today"]
    assert today.due_at == local("2026-12-01T10:45")
    assert today.stale_at == local("2026-12-01T16:45")


def test_no_hot_baths_for_3_days_lands_on_day_0_to_3() -> None:
    baths = aftercare()["aftercare-hot-baths"]
    assert 0 <= day_after_treatment(baths.due_at) <= 3
    assert baths.template == "aftercare-hot-baths"
    assert baths.context["no_hot_baths_latest"] == "2026-12-04"
    assert baths.context["no_hot_baths_max"] == 3


def test_redness_and_bruising_message_on_the_next_day() -> None:
    assert aftercare()["aftercare-redness"].due_at == local("2026-12-02T10:00")


def test_no_intense_exercise_for_7_days() -> None:
    exercise = aftercare()["aftercare-exercise"]
    assert 0 <= day_after_treatment(exercise.due_at) < 7
    assert exercise.context["no_intense_exercise_latest"] == "2026-12-08"


def test_stockings_for_5_to_7_days() -> None:
    stockings = aftercare()["aftercare-stockings"]
    assert day_after_treatment(stockings.due_at) < 5
    assert stockings.context["stockings_earliest"] == "2026-12-06"
    assert stockings.context["stockings_latest"] == "2026-12-08"


def test_no_sun_or_tanning_for_4_to_6_weeks() -> None:
    sun = aftercare()["aftercare-sun"]
    assert day_after_treatment(sun.due_at) <= 3
    assert sun.context["no_sun_earliest"] == "2026-12-29"
    assert sun.context["no_sun_latest"] == "2027-01-12"


def test_staining_fades_over_2_to_6_weeks() -> None:
    staining = aftercare()["aftercare-staining"]
    assert day_after_treatment(staining.due_at) == 7
    assert (staining.context["fading_min"], staining.context["fading_max"]) == (2, 6)
    assert staining.context["fading_latest"] == "2027-01-12"


def test_clot_check_before_2_weeks_are_up() -> None:
    clots = aftercare()["aftercare-clot-check"]
    assert 7 <= day_after_treatment(clots.due_at) < 14
    assert clots.context["clot_removal_latest"] == "2026-12-15"
    assert clots.stale_at is not None and local_of(clots.stale_at).date() == date(2026, 12, 15)


def test_next_session_window_4_to_6_weeks() -> None:
    planned = aftercare()
    window = planned["next-session-window"]
    assert window.context["next_session_earliest"] == "2026-12-29"
    assert window.context["next_session_latest"] == "2027-01-12"
    nudge = planned["next-session-nudge"]
    assert nudge.due_at == local("2026-12-29T10:00")
    assert nudge.stale_at == local("2027-01-12T10:00")
    assert (nudge.context["window_earliest"], nudge.context["window_latest"]) == (
        "2026-12-29",
        "2027-01-12",
    )


def test_no_nudge_when_the_next_session_is_booked() -> None:
    done = make_booking("2026-12-01T10:00", status="attended", booking_id="s1")
    nxt = make_booking("2027-01-05T10:00", session=2, booking_id="s2")
    planned = plan(done, nxt)
    names = {r.milestone for r in planned if r.booking_id == "s1"}
    assert "next-session-nudge" not in names and "next-session-window" not in names
    assert "aftercare-sun" in names


def test_a_cancelled_next_session_brings_the_nudge_back() -> None:
    done = make_booking("2026-12-01T10:00", status="attended", booking_id="s1")
    nxt = make_booking("2027-01-05T10:00", session=2, booking_id="s2", status="cancelled")
    assert "next-session-nudge" in {r.milestone for r in plan(done, nxt)}


@pytest.mark.parametrize(
    ("session", "planned", "nudge", "recall"),
    [
        (1, 3, True, False),
        (2, 3, True, False),
        (3, 3, False, True),
        (4, None, False, True),  # no number given: the typical most, 4
        (5, None, False, True),
        (6, None, False, True),
        (5, 8, True, False),
        (6, 8, False, True),  # a course goes up to 6 sessions
    ],
)
def test_course_of_2_to_4_and_up_to_6_sessions(
    session: int, planned: int | None, nudge: bool, recall: bool
) -> None:
    names = set(aftercare(session=session, planned=planned))
    assert ("next-session-nudge" in names) is nudge
    assert ("maintenance-recall" in names) is recall


@pytest.mark.parametrize(
    ("maintenance", "due_local"),
    [
        ("annual", "2027-12-01T10:00"),
        ("biannual", "2027-06-01T10:00"),
    ],
)
def test_maintenance_recall_annual_or_twice_a_year(
    maintenance: Literal["annual", "biannual"], due_local: str
) -> None:
    last = make_booking("2026-12-01T10:00", status="attended", session=3, planned=3)
    recall = by_milestone(plan(last, policy=ClinicPolicy(maintenance=maintenance)))
    assert recall["maintenance-recall"].due_at == local(due_local)
    assert recall["maintenance-recall"].context["maintenance"] == maintenance


def test_only_the_last_completed_course_gets_a_recall() -> None:
    first = make_booking(
        "2025-12-01T10:00", status="attended", session=2, planned=2, booking_id="a"
    )
    second = make_booking(
        "2026-12-01T10:00", status="attended", session=2, planned=2, booking_id="b"
    )
    recalls = [r for r in plan(first, second) if r.milestone == "maintenance-recall"]
    assert [r.booking_id for r in recalls] == ["b"]


@pytest.mark.parametrize("kind", ["consultation", "treatment"])
def test_rebooking_nudge_after_a_no_show(kind: str) -> None:
    missed = make_booking("2026-12-01T10:00", kind=kind, status="no_show")
    planned = by_milestone(plan(missed))
    assert set(planned) == {"rebook-after-no-show"}
    assert planned["rebook-after-no-show"].due_at == local("2026-12-02T10:00")
    rebooked = make_booking("2026-12-09T10:00", kind=kind, booking_id="b2")
    assert "rebook-after-no-show" not in {r.milestone for r in plan(missed, rebooked)}


def test_a_cancelled_booking_gets_nothing() -> None:
    assert plan(make_booking(status="cancelled")) == []
    assert plan(make_booking(kind="consultation", status="cancelled")) == []


def test_templates_exist_for_every_milestone_in_both_locales() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[3] / "services/notifier/templates/defaults"
    for locale in ("en-GB", "fr-FR"):
        for template in PROTOCOL.templates():
            for part in ("sms", "subject", "text"):
                assert (root / locale / f"{template}.{part}.j2").is_file(), (locale, template, part)


def test_every_milestone_is_planned_in_some_situation() -> None:
    situations = [
        make_booking(kind="consultation"),
        make_booking(),
        make_booking(status="attended", session=1),
        make_booking(status="attended", session=3, planned=3),
        make_booking(status="no_show"),
    ]
    names = {r.milestone for booking in situations for r in plan(booking)}
    assert names == {m.id for m in PROTOCOL.milestones}
