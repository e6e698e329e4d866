"""``DELETE /v1/clinics/{clinic}/patients/{patient}``: the clinic's own key, counts in the
answer, the patient's bookings gone, the same booking id refused afterwards."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from tests.unit.booking.conftest import Payload


def test_the_answer_counts_what_went_and_the_booking_is_gone(
    client: TestClient, payload: Payload
) -> None:
    assert client.post("/v1/bookings", json=payload()).status_code == 201
    client.post("/v1/bookings", json=payload(booking_id="bk-1002"))

    answer = client.delete("/v1/clinics/dr-jenny/patients/p-42")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["erased"]["bookings"] == 2 and body["erased"]["booking_events"] == 2
    assert len(body["patient_hash"]) == 64 and "p-42" not in answer.text
    assert "patient.erased" in body["followers"]
    assert client.get("/v1/bookings/bk-1001?clinic_id=dr-jenny").status_code == 404
    again = client.post("/v1/bookings", json=payload())
    assert again.status_code == 409 and "erased" in again.json()["detail"]
    assert client.post("/v1/bookings", json=payload(booking_id="bk-2001")).status_code == 201


def test_only_the_clinics_own_key_may_erase(
    tmp_path: Path, store: BookingStore, clock: ManualClock, payload: Payload
) -> None:
    keys = {"dr-jenny": SecretStr("jenny-key"), "other": SecretStr("other-key")}
    settings = BookingSettings(var_dir=tmp_path, booking_api_keys=keys)
    client = TestClient(create_app(settings, store, clock))
    client.post("/v1/bookings", json=payload(), headers={"X-API-Key": "jenny-key"})

    anonymous = client.delete("/v1/clinics/dr-jenny/patients/p-42")
    other = client.delete("/v1/clinics/dr-jenny/patients/p-42", headers={"X-API-Key": "other-key"})
    own = client.delete(
        "/v1/clinics/dr-jenny/patients/p-42", headers={"Authorization": "Bearer jenny-key"}
    )

    assert (anonymous.status_code, other.status_code, own.status_code) == (401, 403, 200)
    assert own.json()["erased"]["bookings"] == 1


def test_an_id_no_patient_can_have_is_refused_naming_it(client: TestClient) -> None:
    answer = client.delete("/v1/clinics/dr-jenny/patients/a:b")

    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "patient_id"
