"""A practice calendar followed over time: booked, moved, cancelled, removed, restarted."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.booking.service import BookingService
from services.booking.sources.calendar.feeds import FeedUnavailable, FileFeed
from services.booking.sources.calendar.mapping import CalendarMapping
from services.booking.sources.calendar.state import CalendarState
from services.booking.sources.calendar.sync import CalendarFeed, CalendarSync, booking_id_for
from services.booking.sources.report import Outcome, SyncReport
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from services.shared.events import BookingStatus

SAMPLES = Path(__file__).parent / "samples"
JANE = "appt-20261110-0001@harleyveins.example"
AMIR = "appt-20261117-0002@harleyveins.example"
OLGA = "4f1c2a9e-7d3b-4e55-9a61-0c2b7f0e9d11"
PRIYA = "appt-20261112-0003@harleyveins.example"
TOM = "appt-20261113-0004@harleyveins.example"
MEI = "appt-20261201-0008@harleyveins.example"


class Feed:
    """The clinic's exported calendar file, replaced as the clinic edits its calendar."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "calendar.ics"
        self.show("practice-calendar.ics")

    def show(self, sample: str) -> None:
        shutil.copy(SAMPLES / sample, self.path)


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    return Feed(tmp_path)


@pytest.fixture
def service(store: BookingStore, clock: ManualClock) -> BookingService:
    return BookingService(store, clock, "unit.clinic.bookings.v1", {"microsclerotherapy"})


def _sync(feed: Feed, service: BookingService) -> CalendarSync:
    """A fresh poller each time, as after a restart: all it knows is in the database."""
    mapping = CalendarMapping.from_yaml((SAMPLES / "dr-jenny-calendar.yaml").read_text())
    calendar = CalendarFeed("dr-jenny-main", "dr-jenny", FileFeed(feed.path), mapping)
    return CalendarSync(calendar, service, CalendarState(service.store.engine))


def _outcomes(report: SyncReport) -> dict[str, Outcome]:
    return {r.uid: r.outcome for r in report.results}


def _status(store: BookingStore, uid: str) -> BookingStatus:
    booking = store.get("dr-jenny", booking_id_for(uid))
    assert booking is not None
    return booking.status


def test_the_first_pass_books_the_future_appointments_and_explains_the_rest(
    feed: Feed, service: BookingService, store: BookingStore
) -> None:
    report = _sync(feed, service).run_once()

    outcomes = _outcomes(report)
    assert [uid for uid, o in outcomes.items() if o is Outcome.CREATED] == [JANE, AMIR, OLGA]
    assert outcomes[PRIYA] is Outcome.IGNORED
    assert outcomes["appt-20261020-0006@harleyveins.example"] is Outcome.PAST
    assert report.count(Outcome.REJECTED) == 5
    reasons = {r.uid: r.reason for r in report.rejected}
    assert "patient.phone" in reasons[TOM] and "E.164" in reasons[TOM]
    assert "patient.id: found in none of" in reasons["appt-20261114-0005@harleyveins.example"]
    olga = store.get("dr-jenny", booking_id_for(OLGA))
    assert olga is not None
    assert olga.start == datetime(2027, 4, 6, 9, 0, tzinfo=UTC)
    assert (olga.kind.value, olga.patient.first_name, olga.patient.email) == (
        "review",
        "Olga",
        "olga.p@example.org",
    )
    assert store.history("dr-jenny", booking_id_for(JANE))[0].source == "ical"
    assert store.outbox.backlog() == 3


def test_a_restart_neither_imports_again_nor_cancels(
    feed: Feed, service: BookingService, store: BookingStore
) -> None:
    _sync(feed, service).run_once()

    again = _sync(feed, service).run_once()

    assert again.count(Outcome.CREATED) == 0
    assert again.count(Outcome.CANCELLED) == 0
    assert again.count(Outcome.UNCHANGED) == 3
    assert store.outbox.backlog() == 3


def test_moved_cancelled_removed_and_new_events_change_the_bookings(
    feed: Feed, service: BookingService, store: BookingStore
) -> None:
    _sync(feed, service).run_once()
    feed.show("practice-calendar-later.ics")

    report = _sync(feed, service).run_once()

    outcomes = _outcomes(report)
    assert outcomes[AMIR] is Outcome.RESCHEDULED
    assert outcomes[JANE] is Outcome.CANCELLED
    assert outcomes[OLGA] is Outcome.CANCELLED
    assert outcomes[MEI] is Outcome.CREATED
    amir = store.get("dr-jenny", booking_id_for(AMIR))
    assert amir is not None
    assert amir.start == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    assert amir.schedule_version == 2
    assert _status(store, JANE) is BookingStatus.CANCELLED
    assert _status(store, OLGA) is BookingStatus.CANCELLED
    removed = next(r for r in report.results if r.uid == OLGA)
    assert removed.reason == "removed from the calendar"
    types = [e.type.value for e in store.history("dr-jenny", booking_id_for(AMIR))]
    assert types == ["booking.created", "booking.rescheduled"]
    assert store.outbox.backlog() == 3 + 4


def test_the_later_feed_applied_twice_changes_nothing_more(
    feed: Feed, service: BookingService, store: BookingStore
) -> None:
    _sync(feed, service).run_once()
    feed.show("practice-calendar-later.ics")
    _sync(feed, service).run_once()

    report = _sync(feed, service).run_once()

    assert {r.outcome for r in report.results} <= {
        Outcome.UNCHANGED,
        Outcome.PAST,
        Outcome.IGNORED,
        Outcome.REJECTED,
    }
    assert store.outbox.backlog() == 7


def test_an_appointment_that_leaves_the_feed_after_its_start_is_kept(
    feed: Feed, service: BookingService, store: BookingStore, clock: ManualClock
) -> None:
    _sync(feed, service).run_once()
    clock.advance(timedelta(days=200))  # after Olga's review in April 2027
    feed.show("practice-calendar-later.ics")

    report = _sync(feed, service).run_once()

    assert OLGA not in _outcomes(report)
    assert _status(store, OLGA) is BookingStatus.BOOKED


def test_an_older_sequence_is_ignored(
    feed: Feed, service: BookingService, store: BookingStore
) -> None:
    feed.show("practice-calendar-later.ics")
    _sync(feed, service).run_once()
    feed.show("practice-calendar.ics")  # a stale copy served again: Amir at SEQUENCE 0

    report = _sync(feed, service).run_once()

    assert _outcomes(report)[AMIR] is Outcome.IGNORED
    amir = store.get("dr-jenny", booking_id_for(AMIR))
    assert amir is not None
    assert amir.start == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


def test_an_empty_or_missing_feed_cancels_nothing(
    feed: Feed, service: BookingService, store: BookingStore
) -> None:
    _sync(feed, service).run_once()
    feed.path.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n")

    with pytest.raises(FeedUnavailable, match="no events"):
        _sync(feed, service).run_once()
    feed.path.unlink()
    with pytest.raises(FeedUnavailable, match="cannot read"):
        _sync(feed, service).run_once()
    assert _status(store, JANE) is BookingStatus.BOOKED
    assert store.outbox.backlog() == 3


def test_booking_ids_are_stable_and_valid_for_any_uid() -> None:
    odd = "040000008200E00074C5B7101A82E008 {weird}/uid"

    assert booking_id_for(JANE) == booking_id_for(JANE)
    assert booking_id_for(JANE).startswith("ical-appt-20261110-0001-")
    assert booking_id_for(odd) != booking_id_for(odd + "x")
    assert all(c.isalnum() or c in "._:@-" for c in booking_id_for(odd))
