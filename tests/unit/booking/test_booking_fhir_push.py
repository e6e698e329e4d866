"""``/v1/fhir/{clinic_id}``: a clinic's FHIR server pushing changes (rest-hook, notification
Bundles in full, id-only and empty), authenticated per clinic, answered at once and taken by
the follower; every push that cannot be read refused with the field named."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.sources.fhir.errors import FhirUnavailable
from services.booking.sources.fhir.state import FhirState
from services.booking.sources.fhir.sync import FhirSync, build_server
from services.booking.sources.report import Outcome
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from tests.support.fhir_server import FhirServer, fixture, running_fhir_server

CLINIC = "lakeside"
KEY = "lakeside-key-0123456789abcdef0123456789"
OTHER_KEY = "other-clinic-key-0123456789abcdef012345"


@pytest.fixture
def fhir() -> Iterator[FhirServer]:
    with running_fhir_server() as server:
        server.put(fixture("patient-epic"))
        yield server


@pytest.fixture
def settings(tmp_path: Path, fhir: FhirServer) -> BookingSettings:
    clinics = tmp_path / "clinics.yaml"
    clinics.write_text("lakeside:\n  name: Lakeside Vein Clinic\n  country: US\n")
    return BookingSettings(
        var_dir=tmp_path,
        topic_prefix="unit.",
        clinics_file=clinics,
        booking_api_keys={CLINIC: KEY, "other": OTHER_KEY},
        booking_fhir_servers=[
            {
                "clinic_id": CLINIC,
                "base_url": fhir.base_url,
                "map": {"Sclerotherapy": "microsclerotherapy"},
            }
        ],
    )


@pytest.fixture
def app(settings: BookingSettings, store: BookingStore, clock: ManualClock) -> Any:
    return create_app(settings, store, clock)


@pytest.fixture
def api(app: Any) -> TestClient:
    return TestClient(app)


@pytest.fixture
def follower(app: Any, settings: BookingSettings, store: BookingStore) -> FhirSync:
    server = build_server(settings.booking_fhir_servers[0])
    return FhirSync(server, app.state.service, FhirState(store.engine), inbox=app.state.fhir_inbox)


def appointment(
    clock: ManualClock, appointment_id: str = "appt-1", **changes: Any
) -> dict[str, Any]:
    body = copy.deepcopy(fixture("appointment-epic"))
    start = clock.now() + timedelta(days=4)
    body.update(
        id=appointment_id, start=start.isoformat(), end=(start + timedelta(minutes=30)).isoformat()
    )
    body["meta"] = {"versionId": "1", "lastUpdated": clock.now().isoformat()}
    body.update(changes)
    return body


def status(kind: str, focus: list[str]) -> dict[str, Any]:
    """An R5 SubscriptionStatus of a notification."""
    return {
        "resourceType": "SubscriptionStatus",
        "status": "active",
        "type": kind,
        "subscription": {"reference": "Subscription/appointments"},
        "notificationEvent": [
            {"eventNumber": str(n + 1), "focus": {"reference": f}} for n, f in enumerate(focus)
        ],
    }


def bundle(*entries: dict[str, Any], kind: str = "subscription-notification") -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def push(
    api: TestClient, body: Any, path: str = "", key: str | None = KEY, method: str = "POST"
) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/fhir+json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return api.request(method, f"/v1/fhir/{CLINIC}{path}", content=data, headers=headers)


def test_a_rest_hook_put_is_answered_at_once_and_booked_by_the_follower(
    api: TestClient, follower: FhirSync, clock: ManualClock
) -> None:
    answer = push(api, appointment(clock), "/Appointment/appt-1", method="PUT")
    assert answer.status_code == 202 and answer.json()["appointments"] == 1
    assert follower.run_once().results[0].outcome is Outcome.CREATED
    assert (
        api.get(f"/v1/bookings/appt-1?clinic_id={CLINIC}", headers={"X-API-Key": KEY}).status_code
        == 200
    )
    assert follower._inbox is not None and follower._inbox.count() == 0


def test_a_full_resource_notification_brings_its_patient_along(
    api: TestClient, follower: FhirSync, fhir: FhirServer, clock: ManualClock
) -> None:
    patient = {**fixture("patient-epic"), "id": "pushed-only"}
    booked = appointment(
        clock, participant=[{"actor": {"reference": "Patient/pushed-only"}, "status": "accepted"}]
    )
    notification = bundle(
        {"resource": status("event-notification", ["Appointment/appt-1"])},
        {"fullUrl": f"{fhir.base_url}/Appointment/appt-1", "resource": booked},
        {"fullUrl": f"{fhir.base_url}/Patient/pushed-only", "resource": patient},
    )
    assert push(api, notification).status_code == 202
    [result, *_] = follower.run_once().results
    assert result.outcome is Outcome.CREATED  # the patient came in the bundle, not from the server


def test_an_id_only_backport_notification_is_read_from_the_server(
    api: TestClient, follower: FhirSync, fhir: FhirServer, clock: ManualClock
) -> None:
    fhir.put(appointment(clock, "appt-9"))
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "type", "valueCode": "event-notification"},
            {
                "name": "notification-event",
                "part": [{"name": "focus", "valueReference": {"reference": "Appointment/appt-9"}}],
            },
        ],
    }
    notification = bundle(
        {"resource": parameters}, {"fullUrl": f"{fhir.base_url}/Appointment/appt-9"}, kind="history"
    )
    assert push(api, notification).json()["appointments"] == 1
    pushed, *polled = follower.run_once().results  # what was pushed, then the pass behind it
    assert (pushed.uid, pushed.outcome) == ("Appointment/appt-9", Outcome.CREATED)
    assert [r.outcome for r in polled] == [Outcome.UNCHANGED]


def test_an_empty_push_and_a_handshake_are_acknowledged(api: TestClient) -> None:
    assert push(api, b"").json() == {"clinic_id": CLINIC, "appointments": 0, "look_again": True}
    handshake = bundle({"resource": status("handshake", [])})
    assert push(api, handshake).json()["appointments"] == 0


def test_a_push_waits_for_a_server_that_is_down_and_is_taken_after(
    api: TestClient, follower: FhirSync, fhir: FhirServer, clock: ManualClock
) -> None:
    fhir.put(appointment(clock, "appt-5"))
    push(api, bundle({"resource": status("event-notification", ["Appointment/appt-5"])}))
    fhir.throttle(20, 503, "0")
    with pytest.raises(FhirUnavailable):
        follower.run_once()
    fhir.busy = []
    pushed, *_ = follower.run_once().results
    assert (pushed.uid, pushed.outcome) == ("Appointment/appt-5", Outcome.CREATED)


def test_pushes_are_authenticated_per_clinic(api: TestClient, clock: ManualClock) -> None:
    body = json.dumps(appointment(clock)).encode()
    assert push(api, body, key=None).status_code == 401
    assert push(api, body, key=OTHER_KEY).status_code == 403
    signature = "sha256=" + hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Signature": signature}
    assert api.post(f"/v1/fhir/{CLINIC}", content=body, headers=headers).status_code == 202
    headers = {"X-Signature": "sha256=" + "0" * 64}
    assert api.post(f"/v1/fhir/{CLINIC}", content=body, headers=headers).status_code == 401
    odd = {"X-Signature": "sha256=é".encode("latin-1")}  # not ASCII: refused, not a 500
    assert api.post(f"/v1/fhir/{CLINIC}", content=body, headers=odd).status_code == 401


@pytest.mark.parametrize(
    ("body", "path", "field"),
    [
        (b"{not json", "", "body"),
        ({"resourceType": "Patient", "id": "x"}, "", "resourceType"),
        ({"resourceType": "Bundle", "type": "searchset", "entry": []}, "", "Bundle.type"),
        (
            {
                "resourceType": "Bundle",
                "type": "history",
                "entry": [{"resource": {"resourceType": "Basic"}}],
            },
            "",
            "Bundle.entry[0].resource",
        ),
        ({"resourceType": "Appointment", "id": "other"}, "/Appointment/appt-1", "id"),
        (b"", "/Appointment/appt-1", "body"),
        ([1, 2], "", "resourceType"),
    ],
)
def test_a_push_that_cannot_be_read_is_refused_naming_the_field(
    api: TestClient, body: Any, path: str, field: str
) -> None:
    method = "PUT" if path else "POST"
    answer = push(api, body, path, method=method)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field


def test_a_clinic_whose_server_is_not_followed_gets_404(api: TestClient) -> None:
    answer = api.post("/v1/fhir/other", content=b"", headers={"X-API-Key": OTHER_KEY})
    assert (
        answer.status_code == 404 and "no FHIR server is followed for clinic 'other'" in answer.text
    )
