"""A clinic calendar served over HTTP on loopback, followed into SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from services.booking.service import BookingService
from services.booking.sources.calendar.feeds import FeedUnavailable, open_feed
from services.booking.sources.calendar.mapping import CalendarMapping
from services.booking.sources.calendar.state import CalendarState
from services.booking.sources.calendar.sync import CalendarFeed, CalendarSync, booking_id_for
from services.booking.sources.poller import SourcePoller
from services.booking.sources.report import Outcome, SyncReport
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from services.shared.events import BookingStatus

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).parents[2] / "unit" / "booking" / "samples"
AMIR = "appt-20261117-0002@harleyveins.example"
OLGA = "4f1c2a9e-7d3b-4e55-9a61-0c2b7f0e9d11"


class CalendarServer:
    """Serves one .ics body at /calendar.ics, or a chosen error status."""

    def __init__(self) -> None:
        self.body = (SAMPLES / "practice-calendar.ics").read_bytes()
        self.status = 200
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(served.status)
                self.send_header("Content-Type", "text/calendar; charset=utf-8")
                self.send_header("Content-Length", str(len(served.body)))
                self.end_headers()
                self.wfile.write(served.body)

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/calendar.ics"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def show(self, sample: str) -> None:
        self.body = (SAMPLES / sample).read_bytes()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def server() -> Iterator[CalendarServer]:
    running = CalendarServer()
    yield running
    running.close()


@pytest.fixture
def service(store: BookingStore, clock: ManualClock) -> BookingService:
    return BookingService(store, clock, "it.clinic.bookings.v1", {"microsclerotherapy"})


def _feed(server: CalendarServer) -> CalendarFeed:
    mapping = CalendarMapping.from_yaml((SAMPLES / "dr-jenny-calendar.yaml").read_text())
    return CalendarFeed("dr-jenny-main", "dr-jenny", open_feed(server.url), mapping)


def _sync(server: CalendarServer, service: BookingService) -> CalendarSync:
    return CalendarSync(_feed(server), service, CalendarState(service.store.engine))


def test_the_feed_state_survives_a_restart_on_both_databases(
    server: CalendarServer, service: BookingService, store: BookingStore
) -> None:
    first = _sync(server, service).run_once()
    server.show("practice-calendar-later.ics")

    later = _sync(server, service).run_once()
    again = _sync(server, service).run_once()

    assert first.count(Outcome.CREATED) == 3
    assert {r.uid: r.outcome for r in later.results}[AMIR] is Outcome.RESCHEDULED
    assert again.count(Outcome.CREATED) == 0
    assert store.outbox.backlog() == 7
    amir = store.get("dr-jenny", booking_id_for(AMIR))
    assert amir is not None and amir.start == datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    olga = store.get("dr-jenny", booking_id_for(OLGA))
    assert olga is not None and olga.status is BookingStatus.CANCELLED
    records = CalendarState(store.engine).load("dr-jenny-main")
    assert {r.state.value for r in records.values()} == {"active", "cancelled"}
    assert all(r.start.tzinfo is not None for r in records.values())


def test_an_http_error_is_unavailable_and_changes_nothing(
    server: CalendarServer, service: BookingService, store: BookingStore
) -> None:
    _sync(server, service).run_once()
    server.status = 503

    with pytest.raises(FeedUnavailable, match="HTTP 503"):
        _sync(server, service).run_once()
    assert store.outbox.backlog() == 3


def test_the_poller_follows_the_feed_until_stopped(
    server: CalendarServer, service: BookingService, store: BookingStore
) -> None:
    reports: list[SyncReport] = []
    errors: list[Exception] = []
    poller = SourcePoller(
        "calendar",
        [CalendarSync(_feed(server), service, CalendarState(service.store.engine))],
        interval=0.05,
        on_report=lambda _, report: reports.append(report),
        on_error=lambda _, exc: errors.append(exc),
    )
    poller.start()
    try:
        _wait_for(lambda: store.get("dr-jenny", booking_id_for(OLGA)) is not None)
        server.status = 500
        _wait_for(lambda: bool(errors))
        server.status = 200
        server.show("practice-calendar-later.ics")
        _wait_for(lambda: _status(store, OLGA) is BookingStatus.CANCELLED)
    finally:
        poller.stop()
    assert isinstance(errors[0], FeedUnavailable)
    assert store.outbox.backlog() == 7


def _status(store: BookingStore, uid: str) -> BookingStatus | None:
    booking = store.get("dr-jenny", booking_id_for(uid))
    return None if booking is None else booking.status


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
