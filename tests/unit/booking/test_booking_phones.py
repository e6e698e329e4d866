"""Phone numbers as clinics' systems write them: read in the clinic's country, kept as E.164."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from services.shared.events import Booking, InvalidEvent, decode
from services.shared.phones import to_e164, why_no_texts
from tests.unit.booking.conftest import Payload


@pytest.mark.parametrize(
    ("typed", "region", "kept"),
    [
        ("07700 900123", "GB", "+447700900123"),
        ("+44 (0)20 7946 0000", "GB", "+442079460000"),
        ("020 7946 0000", "GB", "+442079460000"),
        ("06 12 34 56 78", "FR", "+33612345678"),
        ("+33 6 12 34 56 78", "GB", "+33612345678"),
        ("  +447700900123 ", None, "+447700900123"),
    ],
)
def test_national_and_spaced_forms_are_kept_as_e164(typed: str, region: str, kept: str) -> None:
    assert to_e164(typed, region) == kept


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("07700 900", "is not a number in use in GB"),
        ("+999 1234 5678", "its country code is not known"),
        ("call me", "it is not a phone number"),
        ("+447700900123\n", "line break or control character"),
        ("+4420794600001234", "is not a number in use in GB"),
    ],
)
def test_a_number_not_in_use_is_refused_with_the_reason(typed: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        to_e164(typed, "GB")


def test_a_landline_or_freephone_number_cannot_take_texts_and_a_mobile_can() -> None:
    assert why_no_texts("+442079460000") == "a landline"
    assert why_no_texts("+448001111111") == "a freephone number"
    assert why_no_texts("+33612345678") is None
    assert why_no_texts("+447700900123") is None  # Ofcom's drama range: a mobile nobody has


def test_a_booking_in_national_form_is_stored_in_e164(client: TestClient, payload: Payload) -> None:
    response = client.post("/v1/bookings", json=payload(patient={"phone": "07700 900123"}))
    assert response.status_code == 201, response.text
    assert response.json()["booking"]["patient"]["phone"] == "+447700900123"


def test_a_number_not_in_use_is_a_422_naming_the_field(
    client: TestClient, payload: Payload
) -> None:
    response = client.post("/v1/bookings", json=payload(patient={"phone": "+44 7700 9001"}))
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "patient.phone"
    assert "is not a number in use in GB" in error["message"]


def test_a_french_clinic_reads_a_national_number_as_french(
    tmp_path: Path, store: BookingStore, clock: ManualClock, payload: Payload
) -> None:
    clinics = tmp_path / "clinics.yaml"
    clinics.write_text("cabinet-lyon:\n  name: Cabinet Lyon\n  country: FR\n")
    settings = BookingSettings(var_dir=tmp_path, topic_prefix="unit.", clinics_file=clinics)
    client = TestClient(create_app(settings, store, clock))
    body = payload(clinic_id="cabinet-lyon", patient={"phone": "06 12 34 56 78"})
    response = client.post("/v1/bookings", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["booking"]["patient"]["phone"] == "+33612345678"


def test_an_event_on_the_topic_with_a_number_not_in_use_is_invalid(payload: Payload) -> None:
    good = Booking.model_validate(payload()).model_dump_json()
    with pytest.raises(InvalidEvent, match=r"patient.phone: .*not a number in use"):
        decode(Booking, good.replace("+447700900123", "+441111111111"))
