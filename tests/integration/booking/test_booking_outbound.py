"""Callbacks and calendar feeds: https only beyond this machine, redirects not followed blindly."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import ValidationError

from services.booking.publishing.callbacks import CallbackSender
from services.booking.settings import CalendarFeedSettings
from services.booking.sources.calendar.feeds import FeedUnavailable, HttpFeed
from services.booking.store.callback_queue import CallbackQueue
from services.booking.store.store import BookingStore
from services.shared.clinics import ClinicInfo
from services.shared.clock import ManualClock
from tests.integration.booking.test_booking_callbacks import SECRET, confirmed

pytestmark = pytest.mark.integration


class Server:
    """Answers every request with ``status`` and ``location``; keeps the paths asked for."""

    def __init__(self, status: int = 200, location: str | None = None) -> None:
        self.paths: list[str] = []
        found = self

        class Handler(BaseHTTPRequestHandler):
            def answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                found.paths.append(self.path)
                self.send_response(status)
                if location:
                    self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def elsewhere() -> Iterator[Server]:
    server = Server()
    yield server
    server.close()


def test_a_callback_is_not_sent_on_to_where_a_redirect_points(
    store: BookingStore, clock: ManualClock, elsewhere: Server
) -> None:
    """The redirect's address would get the signed event: the 3xx is the clinic's answer."""
    moved = Server(302, f"{elsewhere.url}/stolen")
    try:
        event_id, clinics = confirmed(store, clock, f"{moved.url}/hooks")
        queue = CallbackQueue(store.engine)
        CallbackSender(queue, clinics, clock).send_due()
    finally:
        moved.close()
    assert moved.paths == ["/hooks"]
    assert elsewhere.paths == []
    assert queue.outcome(event_id) == (1, "refused: HTTP 302", True)


@pytest.mark.parametrize("url", ["http://clinic.example/hooks", "http://10.1.2.3/h"])
def test_a_callback_address_beyond_this_machine_must_be_https(url: str) -> None:
    with pytest.raises(ValidationError, match="only https addresses are used"):
        ClinicInfo(name="Dr Jenny", callback_url=url, callback_secret=SECRET)
    ClinicInfo(name="Dr Jenny", callback_url="https://clinic.example/h", callback_secret=SECRET)


def test_a_calendar_feed_beyond_this_machine_must_be_https(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="only https addresses are used"):
        CalendarFeedSettings(clinic_id="dr-jenny", url="http://calendar.example/jenny.ics")
    for fine in (
        "https://calendar.example/jenny.ics",
        "webcal://calendar.example/jenny.ics",
        "http://127.0.0.1:8000/jenny.ics",
        str(tmp_path / "jenny.ics"),
        "file:///srv/jenny.ics",
    ):
        CalendarFeedSettings(clinic_id="dr-jenny", url=fine)


def test_a_feed_redirect_to_plain_http_elsewhere_is_not_followed(elsewhere: Server) -> None:
    """A feed's address carries its secret token: a redirect may not take it off https."""
    moved = Server(301, "http://calendar.example/jenny.ics")
    try:
        with pytest.raises(FeedUnavailable, match="HTTP 301"):
            HttpFeed(f"{moved.url}/jenny.ics").read()
    finally:
        moved.close()


def test_a_feed_redirect_to_an_allowed_address_is_followed(elsewhere: Server) -> None:
    moved = Server(302, f"{elsewhere.url}/moved.ics")
    try:
        HttpFeed(f"{moved.url}/jenny.ics").read()
    finally:
        moved.close()
    assert elsewhere.paths == ["/moved.ics"]
