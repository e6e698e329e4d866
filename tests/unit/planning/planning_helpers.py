"""Builders shared by the planning tests: bookings in a patient's local time, small protocols."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypedDict
from zoneinfo import ZoneInfo

from services.reminders.planning import ClinicPolicy, ProtocolRegistry, plan_patient
from services.reminders.planning.engine import PlannedReminder
from services.shared.events import AppointmentKind, Booking, BookingStatus, Patient

REGISTRY = ProtocolRegistry.builtin()
REPORTED = ClinicPolicy(attendance="reported")
"""The policy of these tests: aftercare on ``booking.attended``, as the clinic reports it."""


class WriteProtocol(Protocol):
    """The ``write_protocol`` fixture: writes a YAML protocol text, returns its path."""

    def __call__(self, text: str, name: str = ...) -> Path: ...


class MilestoneRules(TypedDict, total=False):
    """Keyword arguments of :func:`minimal_protocol` that shape its one milestone's rules."""

    trigger: str
    offset: str
    at: str | None
    late: str
    more: str


class ProtocolFields(MilestoneRules, total=False):
    """Every keyword argument of :func:`minimal_protocol`."""

    treatment: str
    milestone: str


def local(text: str, tz: str = "Europe/London") -> datetime:
    """An aware datetime from a local ISO text in ``tz``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz))


def make_booking(
    start: str = "2026-12-01T10:00",
    *,
    tz: str = "Europe/London",
    kind: str = "treatment",
    status: str = "booked",
    session: int = 1,
    planned: int | None = 3,
    booking_id: str = "b1",
    booked_at: datetime | None = datetime(2026, 1, 1, tzinfo=UTC),
    schedule_version: int = 1,
    duration: int = 45,
    treatment: str = "microsclerotherapy",
) -> Booking:
    return Booking(
        clinic_id="clinic-1",
        booking_id=booking_id,
        patient=Patient(id="p1", first_name="Ann", phone="+447700900123", timezone=tz),
        treatment=treatment,
        kind=AppointmentKind(kind),
        session_number=session,
        sessions_planned=planned,
        start=local(start, tz),
        duration_minutes=duration,
        status=BookingStatus(status),
        schedule_version=schedule_version,
        booked_at=booked_at,
    )


def plan(
    *bookings: Booking, policy: ClinicPolicy | None = None, registry: ProtocolRegistry = REGISTRY
) -> list[PlannedReminder]:
    return plan_patient(list(bookings), registry, policy or REPORTED)


def by_milestone(reminders: list[PlannedReminder]) -> dict[str, PlannedReminder]:
    return {r.milestone: r for r in reminders}


MINIMAL = """\
treatment: {treatment}
version: 1
title: Test
course:
  sessions: {{typical_min: 1, typical_max: 2, max: 3}}
  interval: 4-6 weeks
milestones:
  - id: {milestone}
    trigger: {trigger}
    kinds: [treatment]
    offset: {offset}
{extra}    channels: [sms]
    template: t-{milestone}
    late: {late}
"""


def minimal_protocol(
    *,
    treatment: str = "testing",
    milestone: str = "m1",
    trigger: str = "booked",
    offset: str = "2 days before",
    at: str | None = '"10:00"',
    late: str = "skip",
    more: str = "",
) -> str:
    extra = (f"    at: {at}\n" if at else "") + more
    return MINIMAL.format(
        treatment=treatment,
        milestone=milestone,
        trigger=trigger,
        offset=offset,
        extra=extra,
        late=late,
    )
