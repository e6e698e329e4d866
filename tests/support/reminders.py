"""Building due reminders for tests, with any field overridden."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.shared.events import Channel, Consent, Patient, ReminderDue


def patient(**overrides: Any) -> Patient:
    fields: dict[str, Any] = {
        "id": "p-42",
        "first_name": "Jane",
        "phone": "+447700900123",
        "email": "jane@example.com",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "consent": Consent(sms=True, email=True),
    }
    fields.update(overrides)
    return Patient(**fields)


def reminder(**overrides: Any) -> ReminderDue:
    """A due reminder for Jane's first treatment on Tuesday 1 December 2026 at 10:00 UTC."""
    fields: dict[str, Any] = {
        "reminder_id": "bk-1001:pre-treatment-24h:1",
        "clinic_id": "dr-jenny",
        "booking_id": "bk-1001",
        "patient": patient(),
        "treatment": "microsclerotherapy",
        "kind": "treatment",
        "milestone": "pre-treatment-24h",
        "template": "pre-treatment",
        "channels": (Channel.SMS, Channel.EMAIL),
        "due_at": datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
        "appointment_start": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        "schedule_version": 1,
        "booking_status": "booked",
        "duration_minutes": 45,
        "session_number": 1,
        "sessions_planned": 3,
        "context": {"next_session_by": "2027-01-12"},
        "emitted_at": datetime(2026, 11, 30, 10, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return ReminderDue(**fields)
