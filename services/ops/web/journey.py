"""A booking's whole journey, shaped from what each source holds about it."""

from __future__ import annotations

from typing import Any

from services.booking.store.queries import StoredBooking
from services.notifier.queries import LedgerRow
from services.ops.web.worker import WorkerAnswer
from services.shared.events import Booking, BookingEvent

NOT_ON_WORKER = "no reminders worker holds a plan for this booking"


def journey_of(
    booking_id: str,
    stored: list[StoredBooking],
    plan: WorkerAnswer,
    deliveries: list[LedgerRow],
    down: dict[str, str],
) -> dict[str, Any]:
    """The journey view; ``found`` when any source knows the booking."""
    body = plan.body or {}
    clinics = {s.booking.clinic_id for s in stored} | {d.clinic_id for d in deliveries}
    return {
        "booking_id": booking_id,
        "found": bool(stored or body or deliveries),
        "clinics": sorted(clinics),
        "down": down,
        "bookings": [_booking(s.booking, s.events) for s in stored],
        "plan": {
            "pending": body.get("pending", []),
            "done": sorted((body.get("done") or {}).items()),
        },
        "plan_note": NOT_ON_WORKER if plan.absent else None,
        "deliveries": deliveries,
    }


def _booking(booking: Booking, events: list[BookingEvent]) -> dict[str, Any]:
    patient = booking.patient
    return {
        "clinic_id": booking.clinic_id,
        "status": booking.status,
        "treatment": booking.treatment,
        "kind": booking.kind,
        "session": f"{booking.session_number} of {booking.sessions_planned or '?'}",
        "start": booking.start,
        "schedule_version": booking.schedule_version,
        "patient": {
            "id": patient.id,
            "phone": patient.phone,
            "email": patient.email,
            "timezone": patient.timezone,
            "consent": {"sms": patient.consent.sms, "email": patient.consent.email},
        },
        "events": [_event(e) for e in events],
    }


def _event(event: BookingEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "source": event.source,
        "status": event.data.status,
        "start": event.data.start,
    }
