"""POST /v1/bookings: what is accepted, and a 422 that names every bad field."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.unit.booking.conftest import NOW, Payload


def _fields(response_json: dict[str, list[dict[str, str]]]) -> set[str]:
    return {e["field"] for e in response_json["errors"]}


def test_a_valid_booking_is_booked_now_at_version_one(client: TestClient, payload: Payload) -> None:
    response = client.post("/v1/bookings", json=payload())

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["booking"]["status"] == "booked"
    assert body["booking"]["schedule_version"] == 1
    assert body["booking"]["booked_at"] == NOW.isoformat().replace("+00:00", "Z")
    assert body["booking"]["start"] == "2026-12-01T10:00:00Z"
    assert body["event_id"]


def test_every_bad_field_is_named_in_one_answer(client: TestClient, payload: Payload) -> None:
    bad = payload(
        patient={
            "phone": "0770090",
            "email": "jane@",
            "timezone": "Europe/Londn",
            "first_name": "",
        },
        kind="surgery",
        treatment="botox",
        start="2026-10-01T10:00:00+00:00",
        duration_minutes=2,
    )

    response = client.post("/v1/bookings", json=bad)

    assert response.status_code == 422
    assert _fields(response.json()) == {
        "patient.phone",
        "patient.email",
        "patient.timezone",
        "patient.first_name",
        "kind",
        "treatment",
        "start",
        "duration_minutes",
    }


def test_unknown_kind_is_named_alone(client: TestClient, payload: Payload) -> None:
    response = client.post("/v1/bookings", json=payload(kind="massage"))

    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "kind"
    assert "consultation" in error["message"]


def test_a_start_in_the_past_is_refused(client: TestClient, payload: Payload) -> None:
    response = client.post("/v1/bookings", json=payload(start="2026-10-31T08:59:00+00:00"))

    assert response.status_code == 422
    assert _fields(response.json()) == {"start"}
    assert "too far in the past" in response.json()["errors"][0]["message"]


def test_a_start_earlier_today_is_taken_as_a_clinic_s_export_would_send_it(
    client: TestClient, payload: Payload
) -> None:
    response = client.post("/v1/bookings", json=payload(start="2026-11-01T08:00:00+00:00"))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("start", "why"),
    [
        ("2028-11-02T09:00:00+00:00", "too far ahead"),
        ("9999-12-31T23:00:00-05:00", "out of range"),
        ("0001-01-01T00:00:00+05:00", "out of range"),
    ],
)
def test_a_start_too_far_ahead_or_out_of_range_is_refused(
    client: TestClient, payload: Payload, start: str, why: str
) -> None:
    response = client.post("/v1/bookings", json=payload(start=start))
    assert response.status_code == 422, response.text
    assert _fields(response.json()) == {"start"}
    assert why in response.json()["errors"][0]["message"]


def test_a_start_without_an_offset_is_refused(client: TestClient, payload: Payload) -> None:
    response = client.post("/v1/bookings", json=payload(start="2026-12-01T10:00:00"))

    assert response.status_code == 422
    assert _fields(response.json()) == {"start"}


def test_missing_and_unknown_fields_are_named(client: TestClient, payload: Payload) -> None:
    body = payload(colour="blue", status="attended")
    del body["patient"]["first_name"]

    response = client.post("/v1/bookings", json=body)

    assert response.status_code == 422
    assert _fields(response.json()) == {"patient.first_name", "colour", "status"}


def test_a_body_that_is_not_an_object_is_refused(client: TestClient) -> None:
    response = client.post("/v1/bookings", json=[1, 2])

    assert response.status_code == 422
    assert _fields(response.json()) == {"(body)"}


def test_a_stored_booking_reads_back_with_its_history(client: TestClient, payload: Payload) -> None:
    event_id = client.post("/v1/bookings", json=payload()).json()["event_id"]

    booking = client.get("/v1/bookings/bk-1001").json()
    history = client.get("/v1/bookings/bk-1001/events", params={"clinic_id": "dr-jenny"}).json()

    assert booking["patient"]["phone"] == "+447700900123"
    assert [e["event_id"] for e in history["events"]] == [event_id]
    assert history["events"][0]["type"] == "booking.created"
    assert history["events"][0]["data"] == booking


def test_the_clock_and_health_answer(client: TestClient, payload: Payload) -> None:
    client.post("/v1/bookings", json=payload())

    assert client.get("/v1/clock").json() == {"now": "2026-11-01T09:00:00Z", "scale": 1.0}
    assert client.get("/healthz").json() == {"status": "ok", "store": "ok", "outbox_backlog": 1}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("phone", "+447700900123\n"),  # once stored, texted, and missed by the patient's STOP
        ("email", "jane@example.com\n"),
        ("first_name", "Jane\r\nBcc: someone@example.com"),
        ("first_name", "Ja\x00ne"),
    ],
)
def test_a_trailing_newline_or_a_control_character_is_refused(
    client: TestClient, payload: Payload, field: str, value: str
) -> None:
    body = payload()
    body["patient"] = {**body["patient"], field: value}
    response = client.post("/v1/bookings", json=body)
    assert response.status_code == 422, response.text
    assert _fields(response.json()) == {f"patient.{field}"}


def test_a_body_past_64_kb_is_a_413_naming_the_limit(client: TestClient, payload: Payload) -> None:
    body = payload()
    body["patient"] = {**body["patient"], "first_name": "J" * 70_000}
    response = client.post("/v1/bookings", json=body)
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["detail"]


def test_a_streamed_body_past_the_limit_is_a_413_too(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(20):
            yield b"x" * 8192

    response = client.post(
        "/v1/bookings", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def _refused(client: TestClient, payload: Payload, change: dict[str, Any], field: str) -> str:
    """Post the sample booking with ``change``; assert a 422 naming ``field``; its text."""
    body = payload()
    for key, value in change.items():
        body[key] = {**body[key], **value} if isinstance(value, dict) else value
    response = client.post("/v1/bookings", json=body)
    assert response.status_code == 422, response.text
    assert field in _fields(response.json())
    return str(response.text)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"clinic_id": "acme:x"}, "clinic_id"), ({"patient": {"id": "x:p1"}}, "patient.id")],
)
def test_a_colon_in_a_clinic_or_patient_id_is_refused_so_tenants_cannot_share_a_key(
    client: TestClient, payload: Payload, change: dict[str, Any], field: str
) -> None:
    _refused(client, payload, change, field)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"clinic_id": "."}, "clinic_id"),
        ({"clinic_id": ".."}, "clinic_id"),
        ({"booking_id": ".."}, "booking_id"),
        ({"patient": {"id": "..."}}, "patient.id"),
    ],
)
def test_an_id_of_dots_only_is_refused_so_it_never_names_a_folder(
    client: TestClient, payload: Payload, change: dict[str, Any], field: str
) -> None:
    """A clinic id names its templates' folder: ``..`` would reach the folder above."""
    assert "dots only" in _refused(client, payload, change, field)
