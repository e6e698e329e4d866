"""A patient's course: which triggers a booking fires and whether conditions hold.

Everything here looks only at the snapshots of one patient's bookings, so the
answers change as soon as a booking is made, moved, cancelled or attended.

**Attendance.** Most booking sources (calendar feeds, CSV exports, many
practice systems) never say "attended". A clinic whose attendance is
``assumed`` (the default) has a booked treatment count as attended: its
aftercare is planned from the appointment's end as soon as it is booked, and
a cancel or no-show takes it back. ``reported`` waits for ``booking.attended``.

**Courses are counted.** A booking's ``session_number`` is only the clinic's
hint: a treatment's session is one more than the patient's earlier treatments
of the same treatment that are booked or attended (cancelled and missed ones
do not count), or the hint if that is higher. A course has ``sessions_planned``
sessions (the protocol's typical most when the clinic gives none, never more
than its maximum) and completes when the session that reaches that number is
attended (or, under ``assumed``, booked).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from services.reminders.planning.models import Conditions, Protocol, Trigger
from services.shared.events import AppointmentKind, Booking, BookingStatus

ACTIVE = (BookingStatus.BOOKED, BookingStatus.ATTENDED)
Attendance = Literal["assumed", "reported"]
_BY_STATUS = {
    BookingStatus.BOOKED: Trigger.BOOKED,
    BookingStatus.ATTENDED: Trigger.ATTENDED,
    BookingStatus.NO_SHOW: Trigger.NO_SHOW,
    BookingStatus.CANCELLED: Trigger.CANCELLED,
}


def sessions_limit(booking: Booking, protocol: Protocol) -> int:
    """Sessions in this course: as the clinic plans them, else the protocol's typical most;
    never above the protocol's maximum."""
    sessions = protocol.course.sessions
    return min(booking.sessions_planned or sessions.typical_max, sessions.max)


def counted(bookings: Sequence[Booking]) -> list[Booking]:
    """The bookings with each treatment's session number counted from the others."""
    return [_with_session(b, bookings) for b in bookings]


def _with_session(booking: Booking, bookings: Sequence[Booking]) -> Booking:
    if booking.kind != AppointmentKind.TREATMENT:
        return booking
    earlier = sum(
        1
        for other in bookings
        if other.treatment == booking.treatment
        and other.kind == AppointmentKind.TREATMENT
        and other.status in ACTIVE
        and (other.start, other.booking_id) < (booking.start, booking.booking_id)
    )
    session = max(booking.session_number, earlier + 1)
    if session == booking.session_number:
        return booking
    return booking.model_copy(update={"session_number": session})


def attended(booking: Booking, attendance: Attendance) -> bool:
    """Whether the booking counts as attended: reported so, or booked under ``assumed``."""
    if booking.status == BookingStatus.ATTENDED:
        return True
    return attendance == "assumed" and booking.status == BookingStatus.BOOKED


def completes_course(booking: Booking, protocol: Protocol, attendance: Attendance) -> bool:
    """An attended (or assumed) treatment that is the last session of its course."""
    return (
        booking.kind == AppointmentKind.TREATMENT
        and attended(booking, attendance)
        and booking.session_number >= sessions_limit(booking, protocol)
    )


def triggers(
    booking: Booking,
    bookings: Sequence[Booking],
    protocol: Protocol,
    attendance: Attendance = "assumed",
) -> list[Trigger]:
    """The triggers a booking's current status fires.

    Under ``assumed`` attendance a booked appointment also fires ``attended``.
    Only the latest course-completing treatment of a treatment fires
    ``course_completed``, so a patient gets one maintenance recall.
    """
    fired = [_BY_STATUS[booking.status]]
    if booking.status == BookingStatus.BOOKED and attended(booking, attendance):
        fired.append(Trigger.ATTENDED)
    if completes_course(booking, protocol, attendance) and booking == _last_completing(
        booking, bookings, protocol, attendance
    ):
        fired.append(Trigger.COURSE_COMPLETED)
    return fired


def _last_completing(
    booking: Booking, bookings: Sequence[Booking], protocol: Protocol, attendance: Attendance
) -> Booking:
    same = [
        b
        for b in bookings
        if b.treatment == booking.treatment and completes_course(b, protocol, attendance)
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
