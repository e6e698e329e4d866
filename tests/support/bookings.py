"""Jane's booking as a clinic's system sends it (the README's v1 request), for every test."""

from __future__ import annotations

from typing import Any


def booking_request(patient: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """Jane's first treatment at dr-jenny on 1 December 2026 at 10:00 UTC, as the body of
    ``POST /v1/bookings``; any top-level field, or any field of ``patient``, replaced."""
    body: dict[str, Any] = {
        "clinic_id": "dr-jenny",
        "booking_id": "bk-1001",
        "patient": {
            "id": "p-42",
            "first_name": "Jane",
            "phone": "+447700900123",
            "email": "jane@example.com",
            "locale": "en-GB",
            "timezone": "Europe/London",
            "consent": {"sms": True, "email": True},
        },
        "treatment": "microsclerotherapy",
        "kind": "treatment",
        "session_number": 1,
        "start": "2026-12-01T10:00:00+00:00",
        "duration_minutes": 45,
    }
    body["patient"].update(patient or {})
    body.update(fields)
    return body
