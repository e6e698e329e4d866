"""What can go wrong with a booking request, each carrying how the caller should react."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One bad field: ``field`` is a dotted path into the request, e.g. ``patient.phone``."""

    field: str
    message: str


class BookingError(Exception):
    """Base of every refusal; never retried as it stands."""


class InvalidBooking(BookingError):
    """Invalid input: the request names bad fields; fix them and send again (HTTP 422)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))


class BookingNotFound(BookingError):
    """No such booking for this clinic (HTTP 404)."""

    def __init__(self, clinic_id: str | None, booking_id: str) -> None:
        where = f" at clinic {clinic_id!r}" if clinic_id else ""
        super().__init__(f"no booking {booking_id!r}{where}")


class TransitionNotAllowed(BookingError):
    """The booking's current status does not allow this change (HTTP 409)."""

    def __init__(self, booking_id: str, status: str, action: str) -> None:
        self.status = status
        super().__init__(f"booking {booking_id!r} is {status}; it cannot be {action}")


class TooEarly(BookingError):
    """Attendance marked before the appointment could have begun (HTTP 409)."""

    def __init__(self, booking: Any, action: str, earliest: datetime) -> None:
        self.earliest = earliest
        super().__init__(
            f"booking {booking.booking_id!r} starts at {booking.start.isoformat()}; "
            f"it can be {action} from {earliest.isoformat()}"
        )


class TooLate(BookingError):
    """A confirmation of an appointment that has already begun."""

    def __init__(self, booking: Any, action: str) -> None:
        super().__init__(
            f"booking {booking.booking_id!r} started at {booking.start.isoformat()}; "
            f"it can no longer be {action}"
        )


class Conflict(BookingError):
    """A repeat that does not match the first request, or a concurrent change (HTTP 409)."""


class ErasedBooking(Conflict):
    """The booking id belonged to a patient since erased; a new booking needs a new id (409)."""

    def __init__(self, clinic_id: str, booking_id: str) -> None:
        super().__init__(
            f"booking {booking_id!r} of clinic {clinic_id!r} was erased with its patient; "
            "it is not booked again (a new booking of the patient needs a new booking id)"
        )


class AmbiguousBooking(BookingError):
    """The booking id exists at several clinics; the caller must name one (HTTP 400)."""


class NotFollowed(BookingError):
    """A push for a clinic whose booking source this service does not follow (HTTP 404)."""


class NotAuthorised(BookingError):
    """Missing or wrong API key, or a clinic acting on another's booking (HTTP 401/403)."""

    def __init__(self, message: str, status_code: int = 401) -> None:
        self.status_code = status_code
        super().__init__(message)
