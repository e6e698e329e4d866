"""A calendar never says "attended": this morning's visits, their aftercare, and declines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.booking.domain import StatusChange
from services.booking.service import BookingService
from services.booking.sources.calendar.feeds import FileFeed
from services.booking.sources.calendar.mapping import CalendarMapping
from services.booking.sources.calendar.state import CalendarState
from services.booking.sources.calendar.sync import CalendarFeed, CalendarSync, booking_id_for
from services.booking.sources.report import Outcome
from services.booking.store.store import BookingStore
from services.reminders.planning import ClinicPolicy, ProtocolRegistry, plan_patient
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.clock import ManualClock
from services.shared.events import BookingStatus

SAMPLES = Path(__file__).parent / "samples"
NOW = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)


def event(uid: str, start: str, attendee: str = "") -> str:
    return (
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20261101T090000Z\r\nSEQUENCE:0\r\n"
        f"DTSTART:{start}\r\nDURATION:PT45M\r\n"
        "DESCRIPTION:Patient ID: pt-1\\nPatient: Ann\\nPhone: +447700900123\\n"
        "Treatment: Microsclerotherapy (thread veins)\\nType: Treatment\\nSMS reminders: yes\r\n"
        f"{attendee}END:VEVENT\r\n"
    )


def calendar(*events: str) -> str:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        + "".join(events)
        + "END:VCALENDAR\r\n"
    )


def sync(tmp_path: Path, service: BookingService, text: str) -> dict[str, Outcome]:
    path = tmp_path / "calendar.ics"
    path.write_text(text, encoding="utf-8")
    mapping = CalendarMapping.from_yaml((SAMPLES / "dr-jenny-calendar.yaml").read_text())
    feed = CalendarFeed("dr-jenny-main", "dr-jenny", FileFeed(path), mapping)
    report = CalendarSync(feed, service, CalendarState(service.store.engine)).run_once()
    return {r.uid: r.outcome for r in report.results}


def service_for(store: BookingStore, attendance: str) -> BookingService:
    clinic = ClinicInfo(name="Dr Jenny", attendance=attendance)
    clinics = ClinicDirectory({"dr-jenny": clinic})
    return BookingService(
        store, ManualClock(NOW), "unit.clinic.bookings.v1", {"microsclerotherapy"}, None, clinics
    )


def aftercare(store: BookingStore, uid: str, policy: ClinicPolicy) -> set[str]:
    booking = store.get("dr-jenny", booking_id_for(uid))
    assert booking is not None
    plan = plan_patient([booking], ProtocolRegistry.builtin(), policy)
    return {r.milestone for r in plan if r.milestone.startswith("aftercare-")}


@pytest.mark.parametrize("attendance", ["assumed", "reported"])
def test_this_morning_s_visit_is_booked_and_gets_aftercare_only_under_assumed(
    tmp_path: Path, store: BookingStore, attendance: str
) -> None:
    service = service_for(store, attendance)
    outcomes = sync(tmp_path, service, calendar(event("past-1", "20261110T100000Z")))
    assert outcomes["past-1"] is Outcome.CREATED
    booking = store.get("dr-jenny", booking_id_for("past-1"))
    assert booking is not None and booking.status is BookingStatus.BOOKED
    policy = ClinicPolicy(attendance=attendance)  # type: ignore[arg-type]
    assert bool(aftercare(store, "past-1", policy)) is (attendance == "assumed")


def test_a_visit_over_stays_booked_so_a_no_show_reported_later_is_taken(
    tmp_path: Path, store: BookingStore
) -> None:
    service = service_for(store, "assumed")
    text = calendar(event("later-1", "20261110T170000Z"))
    assert sync(tmp_path, service, text)["later-1"] is Outcome.CREATED
    assert isinstance(service.clock, ManualClock)
    service.clock.set(datetime(2026, 11, 10, 18, 0, tzinfo=UTC))
    assert sync(tmp_path, service, text)["later-1"] is Outcome.UNCHANGED
    service.change_status("dr-jenny", booking_id_for("later-1"), StatusChange.NO_SHOW)
    missed = store.get("dr-jenny", booking_id_for("later-1"))
    assert missed is not None and missed.status is BookingStatus.NO_SHOW
    assert aftercare(store, "later-1", ClinicPolicy()) == set()


def test_an_attendee_who_declined_cancels_the_booking(tmp_path: Path, store: BookingStore) -> None:
    service = service_for(store, "assumed")
    sync(tmp_path, service, calendar(event("soon-1", "20261120T100000Z")))
    declined = "ATTENDEE;PARTSTAT=DECLINED;CN=Ann:mailto:ann@example.com\r\n"
    outcomes = sync(tmp_path, service, calendar(event("soon-1", "20261120T100000Z", declined)))
    assert outcomes["soon-1"] is Outcome.CANCELLED
    booking = store.get("dr-jenny", booking_id_for("soon-1"))
    assert booking is not None and booking.status is BookingStatus.CANCELLED


def test_a_visit_older_than_a_day_is_left_out(tmp_path: Path, store: BookingStore) -> None:
    service = service_for(store, "assumed")
    outcomes = sync(tmp_path, service, calendar(event("old-1", "20261108T100000Z")))
    assert outcomes["old-1"] is Outcome.PAST
