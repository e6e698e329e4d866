"""Applying a translated webhook: systems redeliver, so a repeat is a no-op, never an error."""

from __future__ import annotations

from typing import Any

from services.booking.domain import StatusChange
from services.booking.errors import FieldError, InvalidBooking, TransitionNotAllowed
from services.booking.service import BookingService
from services.booking.store.store import Recorded


def apply(
    service: BookingService, action: str, body: dict[str, Any], source: str = "webhook"
) -> Recorded:
    """Run ``action`` (upsert, cancel, attended, no_show) for the booking in ``body``.

    A status change the booking already has returns its latest event, replayed.
    """
    if action == "upsert":
        return service.upsert(body, source=source)
    booking_id = body.get("booking_id")
    if not isinstance(booking_id, str):
        raise InvalidBooking([FieldError("booking_id", "the webhook carries no booking id")])
    change = StatusChange(action)
    try:
        return service.change_status(body["clinic_id"], booking_id, change, source=source)
    except TransitionNotAllowed as exc:
        if exc.status != change.status:
            raise
        latest = service.history(body["clinic_id"], booking_id)[-1]
        return Recorded(latest, replayed=True)
