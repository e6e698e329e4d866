"""``dlq show``: a dead letter's payload masked by field, its reason and key by pattern."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.ops.dlq import Letter
from services.ops.dlq_view import letter_dict
from services.ops.records import Record
from services.shared.events import DeadLetter


def test_a_dead_letters_payload_is_masked_by_field() -> None:
    payload = {
        "type": "booking.created",
        "data": {
            "treatment": "microsclerotherapy",
            "patient": {"first_name": "Jane", "phone": "07700 900123",
                        "email": "jane.doe@example_corp.com"},
        },
    }  # fmt: skip
    dead = DeadLetter(
        service="reminders",
        topic="clinic.bookings.v1",
        partition=0,
        offset=7,
        key="dr-jenny:p-42",
        payload=json.dumps(payload),
        reason="refused: jane.doe@example_corp.com, 07700 900123",
        occurred_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    record = Record("clinic.bookings.dlq.v1", 0, 3, None, b"dr-jenny:p-42", b"")
    shown = letter_dict(Letter("bookings:0:3", record, dead), full=True)
    text = json.dumps(shown)
    for personal in ("Jane", "jane.doe", "900123", "microsclerotherapy"):
        assert personal not in text, personal
    assert shown["payload"]["data"]["patient"] == {
        "first_name": "J***",
        "phone": "077...123",
        "email": "j***@example_corp.com",
    }
