"""Generated booking events, already encoded as the booking service publishes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.shared.events import (
    AppointmentKind,
    Booking,
    BookingEvent,
    BookingEventType,
    BookingStatus,
    Consent,
    Patient,
    encode,
)

Record = tuple[bytes, bytes]
"""A Kafka key and value."""


def booking(
    n: int, tag: str, start: datetime, booked_at: datetime, attended: bool = False
) -> Booking:
    """Patient ``{tag}-{n}``'s one treatment booking (booked, or attended)."""
    return Booking(
        clinic_id="bench-clinic",
        booking_id=f"bk-{tag}-{n}",
        patient=Patient(
            id=f"p-{tag}-{n}",
            first_name="Jane",
            phone="+447700900123",
            email="jane@example.com",
            consent=Consent(sms=True, email=True),
        ),
        treatment="microsclerotherapy",
        kind=AppointmentKind.TREATMENT,
        session_number=1,
        sessions_planned=3,
        start=start,
        status=BookingStatus.ATTENDED if attended else BookingStatus.BOOKED,
        booked_at=booked_at,
    )


def record(made: Booking) -> Record:
    """The booking event of ``made``, keyed by clinic and patient."""
    kind = (
        BookingEventType.ATTENDED
        if made.status is BookingStatus.ATTENDED
        else BookingEventType.CREATED
    )
    event = BookingEvent(type=kind, occurred_at=made.booked_at, clinic_id=made.clinic_id, data=made)
    return event.key.encode(), encode(event)


def future_bookings(count: int, tag: str, now: datetime, attended: bool = False) -> list[Booking]:
    """Bookings months ahead (60 to 400 days), nothing due for the length of a run."""
    days = 340 * 86400
    return [
        booking(
            i,
            tag,
            now + timedelta(days=60, seconds=(i * 7919) % days),
            now,
            attended,
        )
        for i in range(count)
    ]


def spread(start: datetime, span: timedelta, count: int) -> list[datetime]:
    """``count`` instants evenly over ``[start, start + span)``."""
    step = span / max(count, 1)
    return [start + step * i for i in range(count)]


def attended_ending_at(ends: list[datetime], tag: str, now: datetime) -> list[Booking]:
    """Attended treatments ending at ``ends``: the first aftercare message is due at the end."""
    duration = timedelta(minutes=45)
    return [
        booking(i, tag, end - duration, now - timedelta(days=30), attended=True)
        for i, end in enumerate(ends)
    ]
