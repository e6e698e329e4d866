"""The shape of a treatment protocol file, as frozen pydantic models.

A protocol is data a clinic can read and edit: the course rules of one
treatment and its milestones (which message, for which appointments, when).
Values that must agree with each other are checked here too, and each problem
names the field it is about (see :class:`FieldIssue`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, model_validator

from services.reminders.planning.offsets import (
    Offset,
    parse_duration,
    parse_offset,
    parse_time_of_day,
)
from services.shared.events import AppointmentKind, Channel

Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]
Primitive = str | int | float | bool | None
Maintenance = Literal["annual", "biannual"]


class FieldIssue(ValueError):
    """A problem with a value that must agree with another: ``loc`` is where it is."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


@dataclass(frozen=True)
class MaintenanceOffsets:
    """An offset that depends on the clinic's maintenance setting."""

    annual: Offset
    biannual: Offset

    def pick(self, maintenance: Maintenance) -> Offset:
        return self.annual if maintenance == "annual" else self.biannual


def _offset(value: object) -> Offset:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not an offset; write it as text, e.g. '2 days before'")
    return parse_offset(value)


def _offset_spec(value: object) -> Offset | MaintenanceOffsets:
    if isinstance(value, Mapping):
        if set(value) != {"annual", "biannual"}:
            raise ValueError("a per-clinic offset needs exactly the keys 'annual' and 'biannual'")
        return MaintenanceOffsets(_offset(value["annual"]), _offset(value["biannual"]))
    return _offset(value)


def _duration(value: object) -> timedelta:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration; write e.g. '48h' or '2 days'")
    return parse_duration(value)


OffsetField = Annotated[Offset, PlainValidator(_offset)]
OffsetSpec = Annotated[Offset | MaintenanceOffsets, PlainValidator(_offset_spec)]
Duration = Annotated[timedelta, PlainValidator(_duration)]
TimeOfDay = Annotated[time, PlainValidator(parse_time_of_day)]


class Trigger(StrEnum):
    BOOKED = "booked"
    ATTENDED = "attended"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    COURSE_COMPLETED = "course_completed"


class Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Conditions(Strict):
    """All given conditions must hold for the milestone to be planned."""

    no_later_session_booked: bool = False
    sessions_left: bool = False
    first_session: bool = False
    booked_at_least: Duration | None = None


class Sessions(Strict):
    typical_min: Annotated[int, Field(ge=1, le=20)]
    typical_max: Annotated[int, Field(ge=1, le=20)]
    max: Annotated[int, Field(ge=1, le=20)]

    @model_validator(mode="after")
    def _ordered(self) -> Sessions:
        if not self.typical_min <= self.typical_max <= self.max:
            raise FieldIssue(("max",), "needs typical_min <= typical_max <= max")
        return self


class Course(Strict):
    sessions: Sessions
    interval: OffsetField
    treatment_minutes: tuple[int, int] | None = None
    consultation_first: bool = False
    anaesthetic: bool | None = None
    maintenance: tuple[Maintenance, ...] = ()
    notes: tuple[str, ...] = ()


class Milestone(Strict):
    """One message of the protocol: when it is due, to whom, and when it stops mattering.

    ``offset`` counts from the appointment ``anchor`` (start or end). Offsets in
    hours keep the exact instant; in days, weeks or months they land on a local
    date and are sent at ``at``. A range ("4-6 weeks") is due at its earliest and
    its window is passed to the template. ``windows`` are further named ranges
    whose dates the template shows (e.g. until when to avoid the sun).
    """

    id: Slug
    trigger: Trigger
    kinds: Annotated[tuple[AppointmentKind, ...], Field(min_length=1)]
    anchor: Literal["start", "end"] = "start"
    offset: OffsetSpec
    at: TimeOfDay | None = None
    channels: Annotated[tuple[Channel, ...], Field(min_length=1)]
    template: Slug
    conditions: Conditions = Conditions()
    late: Literal["skip", "send_now"]
    stale: Literal["start", "end"] | None = None
    stale_after: Duration | None = None
    windows: Mapping[Name, OffsetField] = Field(default_factory=dict)
    context: Mapping[Name, Primitive] = Field(default_factory=dict)
    source: str | None = None

    def offset_for(self, maintenance: Maintenance) -> Offset:
        spec = self.offset
        return spec.pick(maintenance) if isinstance(spec, MaintenanceOffsets) else spec

    @model_validator(mode="after")
    def _time_of_day_fits_offset(self) -> Milestone:
        in_hours = {self.offset_for("annual").in_hours, self.offset_for("biannual").in_hours}
        if True in in_hours and self.at is not None:
            raise FieldIssue(("at",), "an offset in hours keeps the exact time; remove 'at'")
        if False in in_hours and self.at is None:
            raise FieldIssue(("at",), "an offset in days, weeks or months needs 'at', e.g. '10:00'")
        if len(set(self.channels)) != len(self.channels):
            raise FieldIssue(("channels",), "a channel is listed twice")
        return self


class Protocol(Strict):
    """A treatment protocol: course rules and milestones, with a version."""

    treatment: Slug
    version: Annotated[int, Field(ge=1)]
    title: str
    course: Course
    milestones: Annotated[tuple[Milestone, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _ids_unique(self) -> Protocol:
        seen: set[str] = set()
        for index, milestone in enumerate(self.milestones):
            if milestone.id in seen:
                raise FieldIssue(("milestones", index, "id"), f"{milestone.id!r} is used twice")
            seen.add(milestone.id)
        return self

    def milestones_for(self, trigger: Trigger, kind: AppointmentKind) -> tuple[Milestone, ...]:
        return tuple(m for m in self.milestones if m.trigger is trigger and kind in m.kinds)

    def templates(self) -> list[str]:
        return sorted({m.template for m in self.milestones})
