"""The booking rules, pure: validate a new booking and work out each change.

No database, broker or web import here; time arrives as an argument.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from services.booking.errors import (
    FieldError,
    InvalidBooking,
    TooEarly,
    TooLate,
    TransitionNotAllowed,
)
from services.shared.events import (
    Booking,
    BookingEvent,
    BookingEventType,
    BookingStatus,
    UtcDatetime,
)
from services.shared.phones import to_e164

SERVICE_FIELDS = ("status", "schedule_version", "booked_at")
"""Set by the booking service, never by the caller."""

_instant: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)
_IDENTIFIER = re.compile(r"[A-Za-z0-9._:@-]{1,128}")
_KEY_PART = re.compile(r"[A-Za-z0-9._@-]{1,128}")
_KEY = re.compile(r"[\x20-\x7e]{1,255}")

Change = Callable[[Booking], BookingEvent]


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    """One :class:`FieldError` per pydantic error, with a dotted path to the field."""
    found = []
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"] if p != "__root__")
        found.append(FieldError(prefix + path if path else prefix or "(body)", err["msg"]))
    return found


@dataclass(frozen=True)
class StartWindow:
    """How far from now an appointment may start: a new booking may lie a little in the
    past (a clinic's system exporting this morning's visits), never too far ahead to plan."""

    past: timedelta = timedelta(days=1)
    future: timedelta = timedelta(days=730)


def new_booking(
    payload: Mapping[str, Any],
    now: datetime,
    treatments: Collection[str],
    window: StartWindow = StartWindow(),
    region: str | None = None,
) -> Booking:
    """Validate a v1 booking request into a booked :class:`Booking` booked at ``now``.

    A phone number without ``+`` is read as one of ``region`` (the clinic's
    country) and kept in E.164 form.

    Raises:
        InvalidBooking: naming every bad field, not only the first.
    """
    errors = [
        FieldError(f, "is set by the booking service") for f in SERVICE_FIELDS if f in payload
    ]
    clean = {k: v for k, v in payload.items() if k not in SERVICE_FIELDS}
    clean, phone_error = _with_e164_phone(clean, region)
    if phone_error is not None:
        errors.append(phone_error)
    booking = None
    try:
        booking = Booking.model_validate({**clean, "booked_at": now})
    except ValidationError as exc:
        errors += field_errors(exc)
    errors += _rule_errors(clean, now, treatments, window, {e.field for e in errors})
    if errors or booking is None:
        raise InvalidBooking(errors)
    return booking


def _with_e164_phone(
    payload: dict[str, Any], region: str | None
) -> tuple[dict[str, Any], FieldError | None]:
    """The payload with ``patient.phone`` in E.164 form, or the reason it cannot be."""
    patient = payload.get("patient")
    if not isinstance(patient, Mapping) or not isinstance(patient.get("phone"), str):
        return payload, None
    try:
        phone = to_e164(patient["phone"], region)
    except ValueError as exc:
        return {**payload, "patient": {k: v for k, v in patient.items() if k != "phone"}}, (
            FieldError("patient.phone", str(exc))
        )
    return {**payload, "patient": {**patient, "phone": phone}}, None


def _rule_errors(
    payload: Mapping[str, Any],
    now: datetime,
    treatments: Collection[str],
    window: StartWindow,
    already: set[str],
) -> list[FieldError]:
    errors = []
    treatment = payload.get("treatment")
    if "treatment" not in already and isinstance(treatment, str) and treatment not in treatments:
        known = ", ".join(sorted(treatments))
        errors.append(FieldError("treatment", f"unknown treatment {treatment!r}; known: {known}"))
    if "start" not in already and "start" in payload:
        errors += _start_errors("start", payload["start"], now - window.past, now + window.future)
    return errors


def _start_errors(name: str, raw: object, earliest: datetime, latest: datetime) -> list[FieldError]:
    try:
        start = _instant.validate_python(raw)
    except ValidationError as exc:
        return field_errors(exc, prefix=name)
    if start < earliest:
        return [
            FieldError(
                name,
                f"{start.isoformat()} is too far in the past: the earliest "
                f"start taken now is {earliest.isoformat()}",
            )
        ]
    if start > latest:
        return [
            FieldError(
                name,
                f"{start.isoformat()} is too far ahead: the latest "
                f"start taken now is {latest.isoformat()}",
            )
        ]
    return []


def parse_future(
    name: str, raw: object, now: datetime, window: StartWindow = StartWindow()
) -> datetime:
    """``raw`` as a UTC instant after ``now`` and within ``window``; :class:`InvalidBooking`
    naming ``name`` if not."""
    start = parse_instant(name, raw)
    if start <= now:
        message = f"{start.isoformat()} is not in the future (now {now.isoformat()})"
        raise InvalidBooking([FieldError(name, message)])
    if errors := _start_errors(name, start, now, now + window.future):
        raise InvalidBooking(errors)
    return start


def parse_instant(name: str, raw: object) -> datetime:
    """``raw`` as a UTC instant; :class:`InvalidBooking` naming ``name`` if it is not one."""
    try:
        return _instant.validate_python(raw)
    except ValidationError as exc:
        raise InvalidBooking(field_errors(exc, prefix=name)) from exc


def is_identifier(value: object) -> bool:
    """Whether ``value`` can be a clinic, booking or patient id at all.

    Lets a lookup by an impossible id answer "not found" without asking a
    database that may refuse the text (PostgreSQL refuses NUL characters).
    """
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def is_key_part(value: object) -> bool:
    """Whether ``value`` can be a clinic or patient id (an identifier without ``:``)."""
    return isinstance(value, str) and _KEY_PART.fullmatch(value) is not None


def check_idempotency_key(key: str) -> str:
    """``key`` if it is 1-255 printable ASCII characters; :class:`InvalidBooking` if not."""
    if _KEY.fullmatch(key) is None:
        raise InvalidBooking(
            [FieldError("Idempotency-Key", "use 1-255 printable ASCII characters, e.g. a UUID")]
        )
    return key


def fingerprint(*parts: object) -> str:
    """A stable digest of a request, to tell a faithful repeat from a conflicting one."""
    canonical = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def booking_fingerprint(booking: Booking) -> str:
    """What makes two create requests the same booking: everything the caller sent."""
    return fingerprint(booking.model_dump(mode="json", exclude={"booked_at"}))


def event_for(booking: Booking, kind: BookingEventType, now: datetime, source: str) -> BookingEvent:
    return BookingEvent(
        type=kind, occurred_at=now, clinic_id=booking.clinic_id, source=source, data=booking
    )


def _require_booked(booking: Booking, action: str) -> None:
    if booking.status is not BookingStatus.BOOKED:
        raise TransitionNotAllowed(booking.booking_id, booking.status.value, action)


def cancel(now: datetime, source: str) -> Change:
    """The change that cancels a booked appointment."""
    return _status_change(
        BookingStatus.CANCELLED, BookingEventType.CANCELLED, "cancelled", now, source
    )


def attended(now: datetime, source: str, grace: timedelta = timedelta(minutes=15)) -> Change:
    """The change that records that the patient came: from ``grace`` before the start."""
    return _status_change(
        BookingStatus.ATTENDED, BookingEventType.ATTENDED, "marked attended", now, source, grace
    )


def no_show(now: datetime, source: str, grace: timedelta = timedelta(minutes=15)) -> Change:
    """The change that records that the patient did not come: from ``grace`` before the start."""
    return _status_change(
        BookingStatus.NO_SHOW, BookingEventType.NO_SHOW, "marked no-show", now, source, grace
    )


def confirm(now: datetime, source: str) -> Change:
    """The change that records the patient's confirmation of a booked appointment still to
    come; the snapshot stays as it is (status, schedule version), so no plan changes."""

    def change(booking: Booking) -> BookingEvent:
        _require_booked(booking, "confirmed")
        if now >= booking.start:
            raise TooLate(booking, "confirmed")
        return event_for(booking, BookingEventType.CONFIRMED, now, source)

    return change


def confirmed_already(history: list[BookingEvent]) -> BookingEvent | None:
    """The confirmation of the booking as it now stands (since it was booked or last moved)."""
    for event in reversed(history):
        if event.type is BookingEventType.CONFIRMED:
            return event
        if event.type in (BookingEventType.CREATED, BookingEventType.RESCHEDULED):
            return None
    return None


def _status_change(
    status: BookingStatus,
    kind: BookingEventType,
    action: str,
    now: datetime,
    source: str,
    not_before_start: timedelta | None = None,
) -> Change:
    def change(booking: Booking) -> BookingEvent:
        _require_booked(booking, action)
        if not_before_start is not None and now < booking.start - not_before_start:
            raise TooEarly(booking, action, booking.start - not_before_start)
        return event_for(booking.model_copy(update={"status": status}), kind, now, source)

    return change


def reschedule(
    start: datetime, now: datetime, source: str, duration_minutes: int | None = None
) -> Change:
    """The change that moves a booked appointment to ``start`` (already checked future)."""

    def change(booking: Booking) -> BookingEvent:
        _require_booked(booking, "rescheduled")
        update: dict[str, Any] = {"start": start, "schedule_version": booking.schedule_version + 1}
        if duration_minutes is not None:
            update["duration_minutes"] = duration_minutes
        moved = Booking.model_validate({**booking.model_dump(), **update})
        return event_for(moved, BookingEventType.RESCHEDULED, now, source)

    return change
