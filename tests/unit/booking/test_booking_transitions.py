"""Cancel, reschedule, attended, no-show: allowed from booked only, each with its event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from tests.unit.booking.conftest import Payload

STARTS = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
"""When the test booking's appointment starts."""


@pytest.fixture
def booked(client: TestClient, payload: Payload) -> str:
    assert client.post("/v1/bookings", json=payload()).status_code == 201
    return "bk-1001"


@pytest.mark.parametrize(
    ("action", "status", "event"),
    [
        ("cancel", "cancelled", "booking.cancelled"),
        ("attended", "attended", "booking.attended"),
        ("no-show", "no_show", "booking.no_show"),
    ],
)
def test_a_status_change_is_stored_with_its_event(
    client: TestClient, booked: str, clock: ManualClock, action: str, status: str, event: str
) -> None:
    clock.set(STARTS)  # attendance is marked once the appointment has begun
    response = client.post(f"/v1/bookings/{booked}/{action}")

    assert response.status_code == 200, response.text
    assert response.json()["booking"]["status"] == status
    types = [e["type"] for e in client.get(f"/v1/bookings/{booked}/events").json()["events"]]
    assert types == ["booking.created", event]


def test_reschedule_moves_the_start_and_raises_the_version(client: TestClient, booked: str) -> None:
    response = client.post(
        f"/v1/bookings/{booked}/reschedule", json={"start": "2026-12-08T14:30:00+01:00"}
    )

    assert response.status_code == 200, response.text
    booking = response.json()["booking"]
    assert booking["start"] == "2026-12-08T13:30:00Z"
    assert booking["schedule_version"] == 2
    assert client.get(f"/v1/bookings/{booked}").json() == booking


def test_reschedule_into_the_past_names_start(client: TestClient, booked: str) -> None:
    response = client.post(
        f"/v1/bookings/{booked}/reschedule", json={"start": "2026-10-01T10:00:00+00:00"}
    )

    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["start"]


@pytest.mark.parametrize("action", ["cancel", "attended", "no-show"])
def test_a_cancelled_booking_cannot_change_again(
    client: TestClient, booked: str, action: str
) -> None:
    client.post(f"/v1/bookings/{booked}/cancel")

    response = client.post(f"/v1/bookings/{booked}/{action}")

    assert response.status_code == 409
    assert response.json()["status"] == "cancelled"
    assert "cancelled" in response.json()["detail"]


def test_an_attended_booking_cannot_be_rescheduled(
    client: TestClient, booked: str, store: BookingStore, clock: ManualClock
) -> None:
    clock.set(STARTS)
    client.post(f"/v1/bookings/{booked}/attended")

    response = client.post(
        f"/v1/bookings/{booked}/reschedule", json={"start": "2026-12-09T10:00:00+00:00"}
    )

    assert response.status_code == 409
    assert response.json()["status"] == "attended"
    assert store.outbox.backlog() == 2


@pytest.mark.parametrize("action", ["attended", "no-show"])
def test_attendance_before_the_start_less_the_grace_is_refused_naming_the_start(
    client: TestClient, booked: str, clock: ManualClock, action: str
) -> None:
    clock.set(STARTS - timedelta(minutes=16))
    early = client.post(f"/v1/bookings/{booked}/{action}")
    assert early.status_code == 409
    assert "starts at 2026-12-01T10:00:00+00:00" in early.json()["detail"]
    assert "from 2026-12-01T09:45:00+00:00" in early.json()["detail"]

    clock.set(STARTS - timedelta(minutes=15))
    assert client.post(f"/v1/bookings/{booked}/{action}").status_code == 200


@pytest.mark.parametrize("path", ["cancel", "attended", "no-show"])
def test_an_unknown_booking_is_404(client: TestClient, path: str) -> None:
    response = client.post(f"/v1/bookings/nope/{path}")

    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_an_unknown_booking_reads_as_404(client: TestClient, booked: str) -> None:
    assert client.get("/v1/bookings/nope").status_code == 404
    assert client.get(f"/v1/bookings/{booked}", params={"clinic_id": "other"}).status_code == 404
    assert (
        client.get(f"/v1/bookings/{booked}/events", params={"clinic_id": "other"}).status_code
        == 404
    )


def test_the_same_booking_id_at_two_clinics_needs_the_clinic(
    client: TestClient, payload: Payload
) -> None:
    client.post("/v1/bookings", json=payload())
    client.post("/v1/bookings", json=payload(clinic_id="dr-ahmed"))

    assert client.get("/v1/bookings/bk-1001").status_code == 400
    cancelled = client.post("/v1/bookings/bk-1001/cancel", headers={"X-Clinic-Id": "dr-ahmed"})
    assert cancelled.json()["booking"]["clinic_id"] == "dr-ahmed"
    kept = client.get("/v1/bookings/bk-1001", params={"clinic_id": "dr-jenny"})
    assert kept.json()["status"] == "booked"


@pytest.mark.parametrize("action", ["attended", "no-show"])
def test_a_clinic_id_longer_than_a_clinic_name_is_a_4xx(client: TestClient, action: str) -> None:
    # Found by schemathesis: the clinic's grace was looked up first, and a clinic
    # nobody described got a name made from its id, too long for a name.
    response = client.post(f"/v1/bookings/0/{action}?clinic_id={'a-' * 60}")
    assert 400 <= response.status_code < 500, response.text
