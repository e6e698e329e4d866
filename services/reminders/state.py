"""What the worker keeps per patient and per due-time bucket, as table values.

A patient's whole plan is one value, so a booking event costs one changelog
write however many milestones it has. Pending reminders are also listed in
coarse buckets of due time, per partition, so a tick reads only what is due.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.reminders.planning.engine import PlannedReminder
from services.shared.events import Booking, Channel, UtcDatetime


class Outcome(StrEnum):
    EMITTED = "emitted"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Pending:
    """One planned reminder waiting for its time (a plain dataclass: made per event)."""

    reminder_id: str
    booking_id: str
    milestone: str
    template: str
    channels: tuple[Channel, ...]
    due_at: UtcDatetime
    stale_at: UtcDatetime | None = None
    context: dict[str, str | int | float | bool | None] = field(default_factory=dict)
    bucket: int = 0
    """The due-time bucket that lists this reminder (never earlier than when it was planned)."""
    catch_up: bool = False
    """Already due when its plan was rebuilt from the booking store (see ``ReminderDue``)."""

    @classmethod
    def of(cls, planned: PlannedReminder, bucket: int, catch_up: bool = False) -> Pending:
        """From the plan engine's output, whose instants are already UTC: not validated again."""
        return cls(
            reminder_id=planned.reminder_id,
            booking_id=planned.booking_id,
            milestone=planned.milestone,
            template=planned.template,
            channels=planned.channels,
            due_at=planned.due_at,
            stale_at=planned.stale_at,
            context=dict(planned.context),
            bucket=bucket,
            catch_up=catch_up,
        )

    def planned(self) -> PlannedReminder:
        return PlannedReminder(
            reminder_id=self.reminder_id,
            booking_id=self.booking_id,
            milestone=self.milestone,
            template=self.template,
            channels=self.channels,
            due_at=self.due_at,
            stale_at=self.stale_at,
            context=self.context,
        )


class PatientState(BaseModel):
    """A patient's bookings (latest snapshots), pending reminders and finished ones."""

    model_config = ConfigDict(frozen=True)

    partition: int | None = None
    """The partition whose events and changelog hold this plan."""
    bookings: dict[str, Booking] = Field(default_factory=dict)
    pending: dict[str, Pending] = Field(default_factory=dict)
    done: dict[str, Outcome] = Field(default_factory=dict)

    def to_value(self) -> bytes:
        """The JSON kept in the table (and its changelog)."""
        return self.model_dump_json().encode()

    @classmethod
    def from_value(cls, value: bytes | None) -> PatientState:
        return cls() if value is None else cls.model_validate_json(value)


def bucket_of(instant: datetime, bucket_seconds: int) -> int:
    """The bucket number (Unix time floored to the bucket size) of an instant."""
    return int(instant.astimezone(UTC).timestamp()) // bucket_seconds * bucket_seconds
