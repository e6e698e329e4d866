"""A patient's course: which triggers a booking fires and whether conditions hold.

Everything here looks only at the snapshots of one patient's bookings, so the
answers change as soon as a booking is made, moved, cancelled or attended.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.reminders.planning.models import Conditions, Protocol, Trigger
from services.shared.events import AppointmentKind, Booking, BookingStatus

ACTIVE = (BookingStatus.BOOKED, BookingStatus.ATTENDED)
_BY_STATUS = {
    BookingStatus.BOOKED: Trigger.BOOKED,
    BookingStatus.ATTENDED: Trigger.ATTENDED,
    BookingStatus.NO_SHOW: Trigger.NO_SHOW,
    BookingStatus.CANCELLED: Trigger.CANCELLED,
}


def sessions_limit(booking: Booking, protocol: Protocol) -> int:
    """Sessions in this course: as planned by the clinic, never above the protocol's maximum."""
    most = protocol.course.sessions.max
    return min(booking.sessions_planned or most, most)


def completes_course(booking: Booking, protocol: Protocol) -> bool:
    """An attended treatment that is the last session of its course."""
    return (
        booking.status == BookingStatus.ATTENDED
        and booking.kind == AppointmentKind.TREATMENT
        and booking.session_number >= sessions_limit(booking, protocol)
    )


def triggers(booking: Booking, bookings: Sequence[Booking], protocol: Protocol) -> list[Trigger]:
    """The triggers a booking's current status fires.

    Only the latest course-completing treatment of a treatment fires
    ``course_completed``, so a patient gets one maintenance recall.
    """
    fired = [_BY_STATUS[booking.status]]
    if completes_course(booking, protocol) and booking == _last_completing(
        booking, bookings, protocol
    ):
        fired.append(Trigger.COURSE_COMPLETED)
    return fired


def _last_completing(booking: Booking, bookings: Sequence[Booking], protocol: Protocol) -> Booking:
    same = [
        b for b in bookings if b.treatment == booking.treatment and completes_course(b, protocol)
    ]
    return max(same, key=lambda b: (b.start, b.booking_id))


def later_session_booked(booking: Booking, bookings: Sequence[Booking]) -> bool:
    """Another booked or attended appointment of the same treatment after this one.

    It counts if it is a treatment, or of the same kind as ``booking`` (a new
    consultation after a missed one).
    """
    return any(
        other.booking_id != booking.booking_id
        and other.treatment == booking.treatment
        and other.status in ACTIVE
        and other.start > booking.start
        and other.kind in (AppointmentKind.TREATMENT, booking.kind)
        for other in bookings
    )


def conditions_hold(
    conditions: Conditions, booking: Booking, bookings: Sequence[Booking], protocol: Protocol
) -> bool:
    """Whether every condition a milestone states holds for this booking now."""
    if conditions.first_session and booking.session_number != 1:
        return False
    if conditions.sessions_left and booking.session_number >= sessions_limit(booking, protocol):
        return False
    if conditions.no_later_session_booked and later_session_booked(booking, bookings):
        return False
    return not _booked_too_late(conditions, booking)


def _booked_too_late(conditions: Conditions, booking: Booking) -> bool:
    if conditions.booked_at_least is None or booking.booked_at is None:
        return False
    return booking.start - booking.booked_at < conditions.booked_at_least
