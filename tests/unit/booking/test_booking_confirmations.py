"""A patient's confirmation by text becomes booking.confirmed, once per text and per booking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from services.booking.publishing.replies import Confirmations
from services.booking.service import BookingService
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from services.shared.events import (
    BookingEventType,
    BookingStatus,
    PatientReplied,
    ReplyIntent,
    encode,
)
from tests.unit.booking.conftest import NOW, Payload

STARTS = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def confirmations(client: TestClient, payload: Payload) -> Confirmations:
    assert client.post("/v1/bookings", json=payload()).status_code == 201
    service: BookingService = client.app.state.service  # type: ignore[attr-defined]
    return Confirmations(service)


def reply(sid: str = "SM1", intent: ReplyIntent = ReplyIntent.CONFIRM) -> bytes:
    return encode(
        PatientReplied(
            message_sid=sid,
            clinic_id="dr-jenny",
            booking_id="bk-1001",
            patient_id="p-42",
            intent=intent,
            word="C",
            received_at=NOW,
        )
    )


def types(client: TestClient) -> list[str]:
    return [e["type"] for e in client.get("/v1/bookings/bk-1001/events").json()["events"]]


def test_a_confirmation_is_recorded_and_the_booking_is_as_it_was(
    client: TestClient, confirmations: Confirmations, clock: ManualClock, store: BookingStore
) -> None:
    clock.advance(timedelta(hours=2))
    recorded = confirmations.handle(reply())
    assert recorded is not None and not recorded.replayed
    assert recorded.event.type is BookingEventType.CONFIRMED
    assert recorded.event.source == "sms-reply" and recorded.event.occurred_at == clock.now()
    assert types(client) == ["booking.created", "booking.confirmed"]
    booking = client.get("/v1/bookings/bk-1001").json()
    assert booking["status"] == "booked" and booking["schedule_version"] == 1
    assert [r.topic for r in store.outbox.pending()] == ["unit.clinic.bookings.v1"] * 2


def test_the_same_text_read_again_and_a_second_c_change_nothing(
    client: TestClient, confirmations: Confirmations
) -> None:
    first = confirmations.handle(reply("SM1"))
    again = confirmations.handle(reply("SM1"))
    second = confirmations.handle(reply("SM2"))
    assert first is not None and again is not None and second is not None
    assert again.replayed and second.replayed
    assert again.event.event_id == second.event.event_id == first.event.event_id
    assert types(client) == ["booking.created", "booking.confirmed"]


def test_a_moved_booking_can_be_confirmed_again(
    client: TestClient, confirmations: Confirmations
) -> None:
    confirmations.handle(reply("SM1"))
    moved = client.post("/v1/bookings/bk-1001/reschedule", json={"start": "2026-12-08T10:00Z"})
    assert moved.status_code == 200
    recorded = confirmations.handle(reply("SM2"))
    assert recorded is not None and not recorded.replayed
    assert recorded.booking.schedule_version == 2
    assert types(client)[-1] == "booking.confirmed"


def test_what_the_booking_refuses_and_other_replies_are_passed_over(
    client: TestClient, confirmations: Confirmations, clock: ManualClock
) -> None:
    assert confirmations.handle(reply("SM1", ReplyIntent.REARRANGE)) is None
    assert confirmations.handle(b'{"type": "patient.replied"}') is None
    clock.set(STARTS)
    assert confirmations.handle(reply("SM2")) is None  # the appointment has begun
    clock.set(NOW)
    assert client.post("/v1/bookings/bk-1001/cancel").json()["booking"]["status"] == "cancelled"
    assert confirmations.handle(reply("SM3")) is None
    assert types(client) == ["booking.created", "booking.cancelled"]
    assert BookingStatus.CANCELLED.value in client.get("/v1/bookings/bk-1001").text
