"""A clinic on a FHIR R4 server: what its staff do in their EHR reaches the patient.

The platform runs as ``make run`` starts it, its booking service following one
FHIR server (``CLINIC_BOOKING_FHIR_SERVERS``, a pass a second). An appointment
created on the server becomes a text; the same appointment cancelled on the
server takes its plan away; one moved on the server moves its plan.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.platform import Platform
from tests.support.fhir_server import FhirServer, fixture, running_fhir_server

pytestmark = pytest.mark.e2e

SCALE = 3600.0
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
CLINIC = "dr-jenny"


def patient(patient_id: str, name: str, mobile: str) -> dict[str, Any]:
    body = copy.deepcopy(fixture("patient-epic"))
    body["id"] = patient_id
    body["name"] = [{"use": "official", "family": "Lopez", "given": [name]}]
    body["telecom"] = [{"system": "phone", "value": mobile, "use": "mobile"}]
    return body


def appointment(appointment_id: str, patient_id: str, start: datetime) -> dict[str, Any]:
    body = copy.deepcopy(fixture("appointment-epic"))
    body["id"] = appointment_id
    body["start"] = start.isoformat()
    body["end"] = (start + timedelta(minutes=30)).isoformat()
    body["minutesDuration"] = 30
    body["participant"][0]["actor"] = {"reference": f"Patient/{patient_id}"}
    return body


def test_an_appointment_made_moved_and_cancelled_in_the_ehr_is_texted_moved_and_dropped(
    tmp_path: Any,
) -> None:
    with running_fhir_server() as fhir:
        platform = Platform(tmp_path / "var", SCALE, START)
        platform.env.update(
            {
                "CLINIC_DEFAULT_QUIET_HOURS": "",
                "CLINIC_BOOKING_FHIR_POLL_SECONDS": "1",
                "CLINIC_BOOKING_FHIR_SERVERS": json.dumps(
                    [
                        {
                            "clinic_id": CLINIC,
                            "base_url": fhir.base_url,
                            "map": {"Sclerotherapy": "microsclerotherapy"},
                        }
                    ]
                ),
            }
        )
        platform.start()
        try:
            _story(platform, fhir)
        finally:
            assert platform.stop() == 0, platform.output()


def _story(platform: Platform, fhir: FhirServer) -> None:
    now = platform.now()
    fhir.put(patient("pt-ana", "Ana", "07700 900771"))
    fhir.put(patient("pt-bea", "Bea", "07700 900772"))
    # Two days ahead: the note of three days before is late, so it is texted at once.
    ana = fhir.put(appointment("fhir-ana", "pt-ana", now + timedelta(days=2)))
    fhir.put(appointment("fhir-bea", "pt-bea", now + timedelta(days=6)))

    line = platform.wait_for_line("[treatment-prepare] booking fhir-ana", timeout=30)
    assert line.split("]", 1)[1].strip().startswith("SMS"), line
    [text] = [m for m in platform.sent("sms") if m["booking_id"] == "fhir-ana"]
    assert text["to"] == "+447700900771" and "Ana" in text["body"]
    bea = _wait_for(lambda: _pending(platform, "pt-bea"), "Bea's plan")

    fhir.put({**fhir.resources[("Appointment", "fhir-bea")], "status": "cancelled"})
    _wait_for(lambda: _pending(platform, "pt-bea") == [] or None, "Bea's plan dropped")

    before = {r["milestone"]: r["due_at"] for r in _pending(platform, "pt-ana")}
    moved = datetime.fromisoformat(ana["start"]) + timedelta(days=2)
    fhir.put(
        {**ana, "start": moved.isoformat(), "end": (moved + timedelta(minutes=30)).isoformat()}
    )
    after = _wait_for(
        lambda: (
            {r["milestone"]: r["due_at"] for r in _pending(platform, "pt-ana")} != before
            and _pending(platform, "pt-ana")
        ),
        "Ana's plan moved",
    )
    reminder = next(r for r in after if r["milestone"] == "treatment-reminder")
    assert datetime.fromisoformat(reminder["due_at"]) == moved - timedelta(hours=24)
    assert bea  # planned before it was cancelled


def _pending(platform: Platform, patient_id: str) -> list[dict[str, Any]]:
    view = platform.worker_view(f"/reminders/patients/{CLINIC}/{patient_id}")
    pending: list[dict[str, Any]] = view.get("pending", [])
    return pending


def _wait_for(found: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if value := found():
                return value
        except Exception:  # the worker's view answers 404 until the patient has a plan
            pass
        time.sleep(0.2)
    raise AssertionError(f"never: {what}")
