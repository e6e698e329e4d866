"""Reading a practice calendar export: appointments out, everything else explained."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.booking.sources.calendar.events import (
    EventProblem,
    FeedEvent,
    FeedUnreadable,
    description_lines,
    parse_calendar,
)

SAMPLES = Path(__file__).parent / "samples"


def _parsed() -> dict[str, FeedEvent | EventProblem]:
    raw = (SAMPLES / "practice-calendar.ics").read_bytes()
    return {e.uid: e for e in parse_calendar(raw, "Europe/London")}


def test_times_in_the_vtimezone_become_the_right_instants_either_side_of_bst() -> None:
    events = _parsed()
    winter = events["appt-20261117-0002@harleyveins.example"]
    summer = events["4f1c2a9e-7d3b-4e55-9a61-0c2b7f0e9d11"]

    assert isinstance(winter, FeedEvent) and isinstance(summer, FeedEvent)
    assert winter.start.astimezone(UTC) == datetime(2026, 11, 17, 14, 30, tzinfo=UTC)
    assert summer.start.astimezone(UTC) == datetime(2027, 4, 6, 9, 0, tzinfo=UTC)
    assert (winter.zone, winter.duration_minutes) == ("Europe/London", 45)


def test_description_properties_and_attendee_are_kept_for_the_mapping() -> None:
    events = _parsed()
    jane = events["appt-20261110-0001@harleyveins.example"]
    olga = events["4f1c2a9e-7d3b-4e55-9a61-0c2b7f0e9d11"]

    assert isinstance(jane, FeedEvent) and isinstance(olga, FeedEvent)
    assert jane.description["patient id"] == "pt-5530"
    assert jane.description["treatment"] == "Microsclerotherapy (thread veins)"
    assert jane.organizer.name == "Dr Jenny Hart"
    assert olga.properties["X-PATIENT-ID"] == "pt-7002"
    assert (olga.attendee.email, olga.attendee.name) == ("olga.p@example.org", "Olga Petrova")


def test_cancelled_and_sequence_are_read() -> None:
    priya = _parsed()["appt-20261112-0003@harleyveins.example"]

    assert isinstance(priya, FeedEvent)
    assert priya.cancelled and priya.sequence == 2


@pytest.mark.parametrize(
    ("uid", "reason"),
    [
        ("staff-meeting-weekly@harleyveins.example", "recurring events are not imported"),
        ("closed-20261225@harleyveins.example", "all-day event"),
        ("appt-20261115-0007@harleyveins.example", "DTSTART: Expected time"),
    ],
)
def test_events_that_are_not_appointments_are_problems_with_a_reason(uid: str, reason: str) -> None:
    problem = _parsed()[uid]

    assert isinstance(problem, EventProblem)
    assert reason in problem.reason


def test_floating_times_take_the_calendars_zone_and_a_repeated_uid_is_refused() -> None:
    raw = (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nX-WR-TIMEZONE:America/New_York\r\n"
        b"BEGIN:VEVENT\r\nUID:a-1\r\nDTSTART:20261201T090000\r\nDURATION:PT30M\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nUID:a-1\r\nDTSTART:20261202T090000Z\r\nEND:VEVENT\r\n"
        b"BEGIN:VEVENT\r\nSUMMARY:Lunch\r\nDTSTART:20261202T120000Z\r\nEND:VEVENT\r\n"
        b"END:VCALENDAR\r\n"
    )

    first, again, no_uid = parse_calendar(raw, "Europe/London")

    assert isinstance(first, FeedEvent)
    assert first.start.astimezone(UTC) == datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    assert first.duration_minutes == 30
    assert isinstance(again, EventProblem) and "more than once" in again.reason
    assert isinstance(no_uid, EventProblem) and no_uid.reason == "the event has no UID"


def test_a_page_that_is_not_a_calendar_is_unreadable() -> None:
    with pytest.raises(FeedUnreadable):
        parse_calendar(b"<html><body>Sign in</body></html>", "Europe/London")


def test_description_lines_keep_key_value_lines_only() -> None:
    text = "Notes for the day\nPatient ID: pt-1\nphone : +447700900123\nURL: https://x.example/a"

    assert description_lines(text) == {
        "patient id": "pt-1",
        "phone": "+447700900123",
        "url": "https://x.example/a",
    }
