"""Retries return the first result; conflicting repeats are 409; keys scope clinics."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from tests.unit.booking.conftest import Payload


def test_the_same_booking_twice_returns_the_first_result(
    client: TestClient, payload: Payload, store: BookingStore
) -> None:
    first = client.post("/v1/bookings", json=payload())
    again = client.post("/v1/bookings", json=payload())

    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert store.outbox.backlog() == 1


def test_the_same_booking_id_with_other_details_is_a_conflict(
    client: TestClient, payload: Payload
) -> None:
    client.post("/v1/bookings", json=payload())

    response = client.post("/v1/bookings", json=payload(duration_minutes=60))

    assert response.status_code == 409
    assert "bk-1001" in response.json()["detail"]


def test_an_idempotency_key_makes_a_retried_change_a_no_op(
    client: TestClient, payload: Payload, store: BookingStore
) -> None:
    client.post("/v1/bookings", json=payload())
    headers = {"Idempotency-Key": "move-1"}
    body = {"start": "2026-12-09T10:00:00+00:00"}

    first = client.post("/v1/bookings/bk-1001/reschedule", json=body, headers=headers)
    again = client.post("/v1/bookings/bk-1001/reschedule", json=body, headers=headers)
    other = client.post(
        "/v1/bookings/bk-1001/reschedule",
        json={"start": "2026-12-10T10:00:00+00:00"},
        headers=headers,
    )

    assert again.status_code == 200 and again.json() == first.json()
    assert again.json()["booking"]["schedule_version"] == 2
    assert other.status_code == 409 and "move-1" in other.json()["detail"]
    assert store.outbox.backlog() == 2


def test_a_retried_cancel_with_its_key_is_not_a_409(client: TestClient, payload: Payload) -> None:
    client.post("/v1/bookings", json=payload())
    headers = {"Idempotency-Key": "c-1"}

    first = client.post("/v1/bookings/bk-1001/cancel", headers=headers)
    again = client.post("/v1/bookings/bk-1001/cancel", headers=headers)
    bare = client.post("/v1/bookings/bk-1001/cancel")

    assert again.status_code == 200 and again.json() == first.json()
    assert bare.status_code == 409


def test_a_clinic_key_reaches_only_its_own_bookings(
    tmp_path: Path, store: BookingStore, clock: ManualClock, payload: Payload
) -> None:
    keys = {"dr-jenny": SecretStr("jenny-key"), "dr-ahmed": SecretStr("ahmed-key")}
    settings = BookingSettings(var_dir=tmp_path, booking_api_keys=keys)
    client = TestClient(create_app(settings, store, clock))
    jenny, ahmed = {"X-API-Key": "jenny-key"}, {"Authorization": "Bearer ahmed-key"}

    assert client.post("/v1/bookings", json=payload()).status_code == 401
    assert (
        client.post("/v1/bookings", json=payload(), headers={"X-API-Key": "x"}).status_code == 401
    )
    assert client.post("/v1/bookings", json=payload(), headers=ahmed).status_code == 403
    assert client.post("/v1/bookings", json=payload(), headers=jenny).status_code == 201
    assert client.get("/v1/bookings/bk-1001", headers=ahmed).status_code == 404
    assert (
        client.get(
            "/v1/bookings/bk-1001", params={"clinic_id": "dr-jenny"}, headers=ahmed
        ).status_code
        == 403
    )
    assert client.post("/v1/bookings/bk-1001/cancel", headers=ahmed).status_code == 404
    assert client.get("/v1/bookings/bk-1001", headers=jenny).json()["status"] == "booked"


def test_the_openapi_document_describes_the_booking_body(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()

    create = spec["paths"]["/v1/bookings"]["post"]
    request = spec["components"]["schemas"]["BookingRequest"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"] == "#/components/schemas/BookingRequest"
    assert {"clinic_id", "booking_id", "patient", "start", "kind"} <= set(request["properties"])
    assert "status" not in request["properties"]
    assert "Patient" in spec["components"]["schemas"]
    assert set(create["responses"]) >= {"201", "409", "422"}
    assert "/v1/bookings/{booking_id}/reschedule" in spec["paths"]
    assert client.get("/docs").status_code == 200
