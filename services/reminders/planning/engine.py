"""The plan engine: from one patient's bookings and the protocols, every reminder and when.

Pure: no clock, no I/O. The same bookings always give the same plan, in the
same order, with the same reminder ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Literal

from services.reminders.planning.course import (
    Attendance,
    conditions_hold,
    counted,
    sessions_limit,
    triggers,
)
from services.reminders.planning.localtime import out_of_quiet_hours
from services.reminders.planning.models import Milestone, Primitive, Protocol, Trigger
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.planning.timing import Anchors, Timing, timing
from services.shared.clinics import DEFAULT_QUIET, QuietHours
from services.shared.events import Booking, Channel, ReminderDue


@dataclass(frozen=True)
class PlannedReminder:
    """One message the patient should get: due and stale instants are UTC."""

    reminder_id: str
    booking_id: str
    milestone: str
    template: str
    channels: tuple[Channel, ...]
    due_at: datetime
    stale_at: datetime | None
    context: Mapping[str, Primitive]


@dataclass(frozen=True)
class ClinicPolicy:
    """A clinic's settings that shape plans: quiet hours (local) and maintenance recall."""

    quiet: QuietHours | None = DEFAULT_QUIET
    """None: the clinic has no quiet hours."""
    maintenance: Literal["annual", "biannual"] = "annual"
    attendance: Attendance = "assumed"
    """``assumed``: a booked treatment's aftercare is planned at once; ``reported``: on attended."""


def reminder_id(clinic_id: str, booking_id: str, milestone: str, schedule_version: int) -> str:
    """A deterministic id: the same booking, milestone and schedule always give the same id."""
    key = f"{clinic_id}\x1f{booking_id}\x1f{milestone}\x1f{schedule_version}"
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def plan_patient(
    bookings: Sequence[Booking], registry: ProtocolRegistry, policy: ClinicPolicy
) -> list[PlannedReminder]:
    """Every reminder one patient should get now, sorted by (due_at, reminder_id).

    ``bookings`` are the latest snapshots of all of the patient's bookings.
    Due times may be in the past (the caller judges lateness with ``stale_at``)
    but never before the booking was made and never in quiet hours.

    Raises:
        UnknownTreatment: a booking's treatment has no protocol.
    """
    planned: dict[str, PlannedReminder] = {}
    bookings = counted(bookings)
    for booking in bookings:
        protocol = registry.get(booking.treatment)
        anchors, course = Anchors.of(booking), _course_context(booking, protocol)
        for trigger in triggers(booking, bookings, protocol, policy.attendance):
            for milestone in protocol.milestones_for(trigger, booking.kind):
                if conditions_hold(milestone.conditions, booking, bookings, protocol):
                    reminder = _plan_one(booking, anchors, course, milestone, trigger, policy)
                    if reminder is not None:
                        planned[reminder.reminder_id] = reminder
    return sorted(planned.values(), key=lambda r: (r.due_at, r.reminder_id))


def _plan_one(
    booking: Booking,
    anchors: Anchors,
    course: Mapping[str, Primitive],
    milestone: Milestone,
    trigger: Trigger,
    policy: ClinicPolicy,
) -> PlannedReminder | None:
    when = timing(anchors, milestone, policy.maintenance)
    due = when.due
    late = booking.booked_at is not None and due < booking.booked_at
    if late:
        if milestone.late == "skip" or booking.booked_at is None:
            return None
        due = booking.booked_at
    due = out_of_quiet_hours(due, anchors.zone, policy.quiet)
    if when.stale_at is not None and due >= when.stale_at:
        return None
    context = _context(course, milestone, trigger, policy, when, late)
    return PlannedReminder(
        reminder_id=reminder_id(
            booking.clinic_id, booking.booking_id, milestone.id, booking.schedule_version
        ),
        booking_id=booking.booking_id,
        milestone=milestone.id,
        template=milestone.template,
        channels=milestone.channels,
        due_at=due,
        stale_at=when.stale_at,
        context=MappingProxyType(context),
    )


def _course_context(booking: Booking, protocol: Protocol) -> dict[str, Primitive]:
    """What every message of one booking says of its treatment and course."""
    limit = sessions_limit(booking, protocol)
    sessions = protocol.course.sessions
    return {
        "treatment": protocol.treatment,
        "protocol_version": protocol.version,
        "sessions_limit": limit,
        "session_number": booking.session_number,
        "sessions_left": max(limit - booking.session_number, 0),
        "sessions_typical_min": sessions.typical_min,
        "sessions_typical_max": sessions.typical_max,
        "sessions_max": sessions.max,
    }


def _context(
    course: Mapping[str, Primitive],
    milestone: Milestone,
    trigger: Trigger,
    policy: ClinicPolicy,
    when: Timing,
    late: bool,
) -> dict[str, Primitive]:
    context: dict[str, Primitive] = {**milestone.context, **when.windows, **course}
    context["sent_late"] = late
    if trigger is Trigger.COURSE_COMPLETED:
        context["maintenance"] = policy.maintenance
    return context


def due_event(
    booking: Booking, reminder: PlannedReminder, emitted_at: datetime, catch_up: bool = False
) -> ReminderDue:
    """The event that announces ``reminder`` (of ``booking``) as due, stamped ``emitted_at``."""
    return ReminderDue(
        reminder_id=reminder.reminder_id,
        clinic_id=booking.clinic_id,
        booking_id=booking.booking_id,
        patient=booking.patient,
        treatment=booking.treatment,
        kind=booking.kind,
        milestone=reminder.milestone,
        template=reminder.template,
        channels=reminder.channels,
        due_at=reminder.due_at,
        stale_at=reminder.stale_at,
        appointment_start=booking.start,
        schedule_version=booking.schedule_version,
        booking_status=booking.status,
        duration_minutes=booking.duration_minutes,
        session_number=int(reminder.context.get("session_number") or booking.session_number),
        sessions_planned=booking.sessions_planned,
        context=dict(reminder.context),
        emitted_at=emitted_at,
        catch_up=catch_up,
    )
