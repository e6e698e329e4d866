"""The published JSON Schemas are the ones the models make."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.booking.event_schemas import EVENTS, rendered
from services.shared.events import Booking, BookingEvent, BookingEventType, Patient

FOLDER = Path(__file__).resolve().parents[3] / "docs" / "schemas"


@pytest.mark.parametrize("name", sorted(EVENTS))
def test_the_checked_in_schema_is_the_generated_one(name: str) -> None:
    checked_in = (FOLDER / name).read_text(encoding="utf-8")

    assert checked_in == rendered()[name], (
        f"docs/schemas/{name} is stale: run python -m services.booking.event_schemas"
    )


def test_the_booking_event_schema_matches_a_real_event() -> None:
    schema = json.loads(rendered()["booking-event.v1.json"])
    at = datetime(2026, 11, 1, 9, tzinfo=UTC)
    event = BookingEvent(
        type=BookingEventType.CREATED,
        occurred_at=at,
        clinic_id="c",
        data=Booking(
            clinic_id="c",
            booking_id="b",
            kind="treatment",
            patient=Patient(id="p", first_name="Jo"),
            treatment="microsclerotherapy",
            start=at,
        ),
    )
    on_the_wire = json.loads(event.model_dump_json())

    assert set(schema["required"]) <= set(on_the_wire)
    assert set(on_the_wire) <= set(schema["properties"])
    assert schema["$defs"]["BookingEventType"]["enum"] == [t.value for t in BookingEventType]
    assert schema["additionalProperties"] is False
