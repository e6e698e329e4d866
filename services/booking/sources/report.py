"""What one pass over a clinic's booking source (a calendar feed, a FHIR server) did with
each item it read: the same outcomes and report for every source."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.booking.store.store import Recorded
from services.shared.events import BookingEventType


class Outcome(StrEnum):
    CREATED = "created"
    RESCHEDULED = "rescheduled"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no-show"
    UNCHANGED = "unchanged"
    PAST = "past"
    IGNORED = "ignored"
    REJECTED = "rejected"


@dataclass(frozen=True)
class EventResult:
    """What one item of a source became: ``uid`` is its id there (an iCalendar event's
    UID, a FHIR appointment's reference)."""

    uid: str
    outcome: Outcome
    booking_id: str = ""
    reason: str = ""


@dataclass(frozen=True)
class SyncReport:
    """Every item's result for one pass, in the source's order (a calendar's removed
    events last)."""

    results: tuple[EventResult, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(r.outcome is outcome for r in self.results)

    @property
    def rejected(self) -> list[EventResult]:
        return [r for r in self.results if r.outcome is Outcome.REJECTED]


def upserted(recorded: Recorded) -> Outcome:
    """What :meth:`BookingService.upsert` did with an item: booked, moved, or nothing new."""
    if recorded.replayed:
        return Outcome.UNCHANGED
    return {
        BookingEventType.CREATED: Outcome.CREATED,
        BookingEventType.RESCHEDULED: Outcome.RESCHEDULED,
    }.get(recorded.event.type, Outcome.UNCHANGED)
