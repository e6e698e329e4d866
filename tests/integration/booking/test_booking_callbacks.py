"""Clinic callbacks against a real HTTP endpoint: a confirmation is POSTed signed, tried again
after a 503 or no answer, never after a refusal (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.booking.publishing.callbacks import CallbackSender
from services.booking.publishing.replies import Confirmations
from services.booking.service import BookingService
from services.booking.store.callback_queue import CallbackQueue
from services.booking.store.store import BookingStore
from services.shared.broker import free_port
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.clock import ManualClock
from services.shared.events import PatientReplied, ReplyIntent, encode
from tests.integration.booking.conftest import NOW
from tests.support.booking_service import BOOKING
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
SECRET = "a-clinic-shared-secret"


@dataclass
class Endpoint:
    """A clinic's callback endpoint: answers ``codes`` in turn (then 200), keeps requests."""

    codes: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    found = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            found.requests.append((dict(self.headers), body))
            self.send_response(found.codes.pop(0) if found.codes else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/reminders"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


def confirmed(
    store: BookingStore, clock: ManualClock, url: str | None
) -> tuple[str, ClinicDirectory]:
    """Jane's booking, confirmed by text at a clinic whose callback is ``url``."""
    clinic = ClinicInfo(name="Dr Jenny", callback_url=url, callback_secret=SECRET if url else None)
    clinics = ClinicDirectory({"dr-jenny": clinic})
    service = BookingService(
        store, clock, "t.clinic.bookings.v1", {"microsclerotherapy"}, None, clinics
    )
    service.create(BOOKING)
    reply = PatientReplied(
        message_sid="SM1",
        clinic_id="dr-jenny",
        booking_id="bk-1001",
        patient_id="p-42",
        intent=ReplyIntent.CONFIRM,
        word="C",
        received_at=NOW,
    )
    recorded = Confirmations(service).handle(encode(reply))
    assert recorded is not None
    return recorded.event.event_id, clinics


def test_a_confirmation_is_posted_signed_and_tried_again_after_a_503(
    store: BookingStore, clock: ManualClock, endpoint: Endpoint
) -> None:
    endpoint.codes = [503]
    event_id, clinics = confirmed(store, clock, endpoint.url)
    queue = CallbackQueue(store.engine)
    sender = CallbackSender(queue, clinics, clock)

    assert sender.send_due() == 1
    attempts, outcome, done = queue.outcome(event_id) or (0, None, True)
    assert (attempts, outcome, done) == (1, "try 1: HTTP 503", False)
    assert sender.send_due() == 0  # not due again for about ten seconds
    clock.advance(timedelta(seconds=13))
    sender.start()
    try:
        wait_until(lambda: (queue.outcome(event_id) or (0, None, False))[2], "delivered", 10)
    finally:
        sender.stop()

    assert queue.outcome(event_id) == (2, "delivered: HTTP 200", True)
    assert len(endpoint.requests) == 2
    headers, body = endpoint.requests[1]
    event = json.loads(body)
    assert (event["type"], event["event_id"], event["data"]["booking_id"]) == (
        "booking.confirmed",
        event_id,
        "bk-1001",
    )
    assert headers["X-Clinic-Event"] == "booking.confirmed"
    assert headers["X-Clinic-Delivery"] == event_id == endpoint.requests[0][0]["X-Clinic-Delivery"]
    assert headers["Content-Type"] == "application/json"
    stamp = headers["X-Clinic-Timestamp"]
    assert int(stamp) == int(clock.now().timestamp())
    expected = hmac.new(SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert headers["X-Clinic-Signature"] == f"sha256={expected}"


def test_a_refusal_is_not_tried_again_and_no_answer_is(
    store: BookingStore, clock: ManualClock, endpoint: Endpoint
) -> None:
    endpoint.codes = [410]
    event_id, clinics = confirmed(store, clock, endpoint.url)
    queue = CallbackQueue(store.engine)
    CallbackSender(queue, clinics, clock).send_due()
    assert queue.outcome(event_id) == (1, "refused: HTTP 410", True)

    clock.advance(timedelta(days=1))  # the clinic's endpoint is gone; it confirms again
    gone = ClinicInfo(
        name="Dr Jenny", callback_url=f"http://127.0.0.1:{free_port()}/", callback_secret=SECRET
    )
    clinics = ClinicDirectory({"dr-jenny": gone})
    service = BookingService(store, clock, "t.bookings", {"microsclerotherapy"}, None, clinics)
    service.reschedule("dr-jenny", "bk-1001", NOW + timedelta(days=40))
    again = service.confirm("dr-jenny", "bk-1001", idempotency_key="sms:SM2")
    CallbackSender(queue, clinics, clock).send_due()
    attempts, outcome, done = queue.outcome(again.event.event_id) or (0, None, True)
    assert attempts == 1 and not done and outcome is not None and "no answer" in outcome


def test_a_clinic_without_a_callback_queues_nothing(
    store: BookingStore, clock: ManualClock
) -> None:
    event_id, _ = confirmed(store, clock, None)
    assert CallbackQueue(store.engine).outcome(event_id) is None
