"""POST /v1/webhooks/{clinic}: a practice system's own JSON, through the clinic's mapping file."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock

SAMPLES = Path(__file__).parent / "samples"
CREATED: dict[str, Any] = json.loads((SAMPLES / "appointment-created.json").read_text())


@pytest.fixture
def hook(tmp_path: Path, store: BookingStore, clock: ManualClock) -> TestClient:
    folder = tmp_path / "webhooks"
    folder.mkdir()
    shutil.copy(SAMPLES / "dr-jenny.yaml", folder)
    settings = BookingSettings(var_dir=tmp_path, booking_webhook_dir=folder)
    return TestClient(create_app(settings, store, clock))


def _event(name: str, **appointment: Any) -> dict[str, Any]:
    payload = copy.deepcopy(CREATED)
    payload["event"] = name
    payload["data"]["appointment"].update(appointment)
    return payload


def test_the_sample_webhook_becomes_a_booking(hook: TestClient, store: BookingStore) -> None:
    response = hook.post("/v1/webhooks/dr-jenny", json=CREATED)

    assert response.status_code == 200, response.text
    booking = store.get("dr-jenny", "apt-88121")
    assert booking is not None
    assert (booking.patient.id, booking.patient.phone) == ("pt-5530", "+447700900123")
    assert (booking.treatment, booking.kind.value) == ("microsclerotherapy", "treatment")
    assert booking.patient.consent.sms and not booking.patient.consent.email
    assert store.history("dr-jenny", "apt-88121")[0].source == "webhook"


def test_redelivery_is_a_no_op_and_a_move_reschedules(
    hook: TestClient, store: BookingStore
) -> None:
    first = hook.post("/v1/webhooks/dr-jenny", json=CREATED).json()
    again = hook.post("/v1/webhooks/dr-jenny", json=CREATED).json()
    moved = hook.post(
        "/v1/webhooks/dr-jenny",
        json=_event("appointment.updated", starts_at="2026-12-08T10:00:00Z"),
    ).json()

    assert again["replayed"] and again["event_id"] == first["event_id"]
    assert moved["booking"]["schedule_version"] == 2
    assert [e.type.value for e in store.history("dr-jenny", "apt-88121")] == [
        "booking.created",
        "booking.rescheduled",
    ]


def test_a_cancel_delivered_twice_cancels_once(hook: TestClient, store: BookingStore) -> None:
    hook.post("/v1/webhooks/dr-jenny", json=CREATED)
    cancel = _event("appointment.cancelled")

    first = hook.post("/v1/webhooks/dr-jenny", json=cancel)
    again = hook.post("/v1/webhooks/dr-jenny", json=cancel)

    assert first.json()["booking"]["status"] == "cancelled"
    assert again.status_code == 200 and again.json()["replayed"]
    assert store.outbox.backlog() == 2


def test_bad_data_names_our_fields_and_their_words(hook: TestClient) -> None:
    bad = _event("appointment.created", starts_at="2026-10-01T10:00:00Z")
    bad["data"]["patient"]["patient_phone_numbers"][0]["normalized_number"] = "07700"

    invalid = hook.post("/v1/webhooks/dr-jenny", json=bad)
    unknown = hook.post("/v1/webhooks/dr-jenny", json=_event("appointment.exploded"))

    assert {e["field"] for e in invalid.json()["errors"]} == {"patient.phone", "start"}
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "event"


def test_a_clinic_without_a_mapping_is_404(hook: TestClient) -> None:
    assert hook.post("/v1/webhooks/dr-nobody", json=CREATED).status_code == 404


@pytest.mark.parametrize(
    "change",
    [
        {"event": ["appointment.created"]},
        {"event": {"name": "appointment.created"}},
        {"data.appointment.id": ["apt-1", "apt-2"]},
        {"data.appointment.appointment_type.name": {"x": 1}},
        {"data.appointment.appointment_type.category": ["Treatment"]},
    ],
    ids=["event-list", "event-object", "id-list", "treatment-object", "kind-list"],
)
def test_lists_and_objects_where_a_value_belongs_are_a_4xx(
    hook: TestClient, change: dict[str, Any]
) -> None:
    payload = copy.deepcopy(CREATED)
    for path, value in change.items():
        *parents, last = path.split(".")
        node = payload
        for part in parents:
            node = node[part]
        node[last] = value
    response = hook.post("/v1/webhooks/dr-jenny", json=payload)
    assert 400 <= response.status_code < 500, response.text
