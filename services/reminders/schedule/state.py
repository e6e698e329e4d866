"""What the worker keeps per patient and per due-time bucket, as table values.

A patient's whole plan is one value, so a booking event costs one changelog
write however many milestones it has. Pending reminders are also listed in
coarse buckets of due time, per partition, so a tick reads only what is due.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from services.reminders.planning.engine import PlannedReminder
from services.shared.events import Booking, UtcDatetime


class Outcome(StrEnum):
    EMITTED = "emitted"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Pending(PlannedReminder):
    """A planned reminder waiting for its time, and the bucket that lists it.

    It is the plan engine's :class:`PlannedReminder` (same fields, same JSON, in
    the same order), with the two things only the scheduler knows appended; the
    instants are re-declared so that a plan read back from the table is UTC.
    """

    due_at: UtcDatetime
    stale_at: UtcDatetime | None
    context: dict[str, str | int | float | bool | None]
    bucket: int = 0
    """The due-time bucket that lists this reminder (never earlier than when it was planned)."""
    catch_up: bool = False
    """Already due when its plan was rebuilt from the booking store (see ``ReminderDue``)."""

    @classmethod
    def of(cls, planned: PlannedReminder, bucket: int, catch_up: bool = False) -> Pending:
        """From the plan engine's output, whose instants are already UTC: not validated again."""
        p = planned  # field by field, in order: a test holds the two classes' fields in step
        return cls(
            p.reminder_id, p.booking_id, p.milestone, p.template, p.channels,
            p.due_at, p.stale_at, dict(p.context), bucket, catch_up,
        )  # fmt: skip


class PatientState(BaseModel):
    """A patient's bookings (latest snapshots), pending reminders and finished ones."""

    model_config = ConfigDict(frozen=True)

    partition: int | None = None
    """The partition whose events and changelog hold this plan."""
    bookings: dict[str, Booking] = Field(default_factory=dict)
    pending: dict[str, Pending] = Field(default_factory=dict)
    done: dict[str, Outcome] = Field(default_factory=dict)
    forget_at: datetime | None = None
    """When the plan, nothing left pending, is forgotten (``schedule.Keeping``); None while
    reminders are pending, and on plans written before the field (worked out again)."""

    def to_value(self) -> bytes:
        """The JSON kept in the table (and its changelog)."""
        return self.model_dump_json().encode()

    @classmethod
    def from_value(cls, value: bytes | None) -> PatientState:
        return cls() if value is None else cls.model_validate_json(value)


def bucket_of(instant: datetime, bucket_seconds: int) -> int:
    """The bucket number (Unix time floored to the bucket size) of an instant."""
    return int(instant.astimezone(UTC).timestamp()) // bucket_seconds * bucket_seconds
