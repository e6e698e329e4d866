"""A clinic's calendar mapping file: where each booking field is found in an event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.booking.errors import InvalidBooking
from services.booking.sources.calendar.events import FeedEvent, Party
from services.booking.sources.calendar.mapping import CalendarMapping

SAMPLES = Path(__file__).parent / "samples"
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _event(**fields: object) -> FeedEvent:
    base: dict[str, object] = {"uid": "u-1", "start": START, "duration_minutes": 30}
    return FeedEvent(**{**base, **fields})  # type: ignore[arg-type]


def test_the_sample_mapping_reads_description_lines_and_translates_values() -> None:
    mapping = CalendarMapping.from_yaml((SAMPLES / "dr-jenny-calendar.yaml").read_text())
    event = _event(
        description={
            "patient id": "pt-1",
            "patient": "Jane",
            "phone": "+447700900123",
            "treatment": "Microsclerotherapy (thread veins)",
            "type": "consultation",
            "sms reminders": "Yes",
            "session": "2",
        }
    )

    body = mapping.request(event, "dr-jenny", "bk-1")

    assert body["patient"] == {
        "id": "pt-1",
        "first_name": "Jane",
        "phone": "+447700900123",
        "timezone": "Europe/London",
        "consent": {"sms": True, "email": True},
    }
    assert (body["treatment"], body["kind"], body["session_number"]) == (
        "microsclerotherapy",
        "consultation",
        "2",
    )
    assert (body["start"], body["duration_minutes"], body["booking_id"]) == (START, 30, "bk-1")


def test_the_default_mapping_reads_x_properties_and_the_attendee() -> None:
    event = _event(
        properties={"X-PATIENT-ID": "pt-9", "X-TREATMENT": "microsclerotherapy"},
        description={"kind": "review"},
        attendee=Party(email="olga@example.org", name="Olga Petrova"),
    )

    body = CalendarMapping().request(event, "dr-jenny", "bk-9")

    assert body["patient"]["id"] == "pt-9"
    assert body["patient"]["first_name"] == "Olga"
    assert body["patient"]["email"] == "olga@example.org"
    assert body["kind"] == "review"


def test_every_missing_required_field_is_named_with_where_it_was_looked_for() -> None:
    with pytest.raises(InvalidBooking) as caught:
        CalendarMapping().request(_event(description={"kind": "review"}), "dr-jenny", "bk-1")

    fields = [e.field for e in caught.value.errors]
    assert fields == ["patient.id", "patient.first_name", "treatment"]
    assert "X-PATIENT-ID, description:Patient ID" in caught.value.errors[0].message


def test_defaults_fill_a_required_field_no_source_gives() -> None:
    mapping = CalendarMapping.from_yaml(
        "fields:\n  patient.id: X-PID\n"
        "defaults:\n  treatment: microsclerotherapy\n  kind: treatment\n"
        "timezone: Europe/Dublin\n"
    )
    event = _event(properties={"X-PID": "pt-3"}, description={"patient": "Sam"})

    body = mapping.request(event, "c-1", "bk-3")

    assert (body["treatment"], body["kind"]) == ("microsclerotherapy", "treatment")
    assert body["patient"]["timezone"] == "Europe/Dublin"


@pytest.mark.parametrize("text", ["- just\n- a list\n", "fields:\n  patient.id: 3\n"])
def test_a_malformed_mapping_file_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        CalendarMapping.from_yaml(text)
