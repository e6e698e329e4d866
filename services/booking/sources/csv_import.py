"""Bookings from a CSV file, one per row, through the same rules, store and outbox as the API.

Columns (header row, any order; blank cells are left out): booking_id, patient_id,
first_name, phone, email, locale, timezone, consent_sms, consent_email,
treatment, kind, session_number, sessions_planned, start, duration_minutes, and
an optional status: booked (the default), attended, no_show or cancelled, which
is recorded after the booking as its own event (so an export of yesterday's
visits, marked as the practice system knows them, plans what follows each).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.booking.domain import StatusChange
from services.booking.errors import BookingError
from services.booking.service import BookingService
from services.shared.events import Booking

PATIENT_COLUMNS = {
    "patient_id": "id",
    "first_name": "first_name",
    "phone": "phone",
    "email": "email",
    "locale": "locale",
    "timezone": "timezone",
}
BOOKING_COLUMNS = (
    "booking_id",
    "treatment",
    "kind",
    "session_number",
    "sessions_planned",
    "start",
    "duration_minutes",
)
TRUE = {"1", "true", "yes", "y"}
STATUSES = ("booked", "attended", "no_show", "cancelled")


@dataclass(frozen=True)
class RowResult:
    """What became of one row: ``accepted``, ``unchanged`` (imported before) or ``rejected``."""

    line: int
    booking_id: str
    outcome: str
    reason: str = ""


def row_payload(row: dict[str, str], clinic_id: str) -> dict[str, Any]:
    """The v1 booking request of one CSV row (validation happens in the service)."""
    cells = {k.strip(): (v or "").strip() for k, v in row.items() if k}
    patient: dict[str, Any] = {
        ours: cells[col] for col, ours in PATIENT_COLUMNS.items() if cells.get(col)
    }
    patient["consent"] = {
        "sms": cells.get("consent_sms", "").lower() in TRUE,
        "email": cells.get("consent_email", "").lower() in TRUE,
    }
    payload: dict[str, Any] = {"clinic_id": clinic_id, "patient": patient}
    payload.update({col: cells[col] for col in BOOKING_COLUMNS if cells.get(col)})
    return payload


def count_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def import_rows(path: Path, clinic_id: str, service: BookingService) -> Iterator[RowResult]:
    """Record each row of ``path`` for ``clinic_id``, yielding its result as it goes.

    A rejected row does not stop the import; a row imported before is a no-op.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            status = (row.get("status") or "").strip().lower() or "booked"
            yield _import_one(line, row_payload(row, clinic_id), status, service)


def _import_one(
    line: int, payload: dict[str, Any], status: str, service: BookingService
) -> RowResult:
    booking_id = str(payload.get("booking_id", ""))
    if status not in STATUSES:
        reason = f"status: {status!r} is not one of {', '.join(STATUSES)}"
        return RowResult(line, booking_id, "rejected", reason)
    try:
        recorded = service.create(payload, source="csv")
    except BookingError as exc:
        return RowResult(line, booking_id, "rejected", str(exc))
    try:
        changed = _set_status(recorded.booking, status, service)
    except BookingError as exc:
        return RowResult(line, booking_id, "rejected", f"booked, but not marked {status}: {exc}")
    unchanged = recorded.replayed and not changed
    return RowResult(line, booking_id, "unchanged" if unchanged else "accepted")


def _set_status(booking: Booking, status: str, service: BookingService) -> bool:
    """Bring the booking to the row's status; False if it is there already."""
    current = service.get(booking.clinic_id, booking.booking_id).status
    if status == current.value or status == "booked":
        return False
    change = next(c for c in StatusChange if c.status.value == status)
    service.change_status(booking.clinic_id, booking.booking_id, change, source="csv")
    return True
