"""What ops ask of the schedule: counts by state, the next due, one patient's plan."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from services.reminders.schedule.state import Outcome, PatientState


class PlanCounts:
    """Running counts over the plans one worker holds, kept as each plan is written.

    Keeping it costs a pass over one patient's reminders per write and never
    a read of the whole table.
    """

    def __init__(self) -> None:
        self._counts: defaultdict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self._counts.clear()

    def replace(self, before: PatientState | None, after: PatientState) -> None:
        """One patient's plan went from ``before`` (None: new patient) to ``after``."""
        if before is not None:
            self._tally((p.milestone for p in before.pending.values()), before.done.values(), -1)
        self._tally((p.milestone for p in after.pending.values()), after.done.values(), 1)

    def remove(self, before: PatientState) -> None:
        """One patient's plan was deleted (the patient was erased)."""
        self._tally((p.milestone for p in before.pending.values()), before.done.values(), -1)

    def add(self, value: Mapping[str, Any]) -> None:
        """Count one plan as read back from the table (parsed JSON)."""
        pending = value.get("pending", {}).values()
        self._tally((p["milestone"] for p in pending), value.get("done", {}).values(), 1)

    def as_dict(self) -> dict[str, Any]:
        c = self._counts
        prefix = "milestone:"
        by_milestone = {k[len(prefix) :]: n for k, n in c.items() if k.startswith(prefix) and n}
        return {
            "patients": c["patients"],
            "pending": c["pending"],
            "emitted": c[Outcome.EMITTED.value],
            "skipped": c[Outcome.SKIPPED.value],
            "pending_by_milestone": dict(sorted(by_milestone.items())),
        }

    def _tally(self, milestones: Iterable[str], outcomes: Iterable[str], sign: int) -> None:
        """Add (``sign`` 1) or take away (-1) one patient, its pending and its done reminders."""
        counts = self._counts
        pending = 0
        for milestone in milestones:
            counts["milestone:" + milestone] += sign
            pending += 1
        for outcome in outcomes:
            counts[outcome] += sign
        counts["patients"] += sign
        counts["pending"] += sign * pending


def summarize(
    counts: PlanCounts, due_soon: int, next_due: datetime | None, now: datetime
) -> dict[str, Any]:
    """The ``/reminders/stats`` body: running counts and what falls due in the next hour."""
    return {
        "now": now.isoformat(),
        **counts.as_dict(),
        "due_next_hour": due_soon,
        "next_due": next_due.isoformat() if next_due else None,
    }


def describe(state: PatientState, booking_id: str | None = None) -> dict[str, Any]:
    """A patient's plan (or one booking's part of it): pending by due time, then done."""
    pending = sorted(
        (p for p in state.pending.values() if booking_id in (None, p.booking_id)),
        key=lambda p: (p.due_at, p.reminder_id),
    )
    return {
        "bookings": [
            b.model_dump(mode="json")
            for b in state.bookings.values()
            if booking_id in (None, b.booking_id)
        ],
        "pending": [
            {
                "reminder_id": p.reminder_id,
                "booking_id": p.booking_id,
                "milestone": p.milestone,
                "due_at": p.due_at.isoformat(),
                "channels": [c.value for c in p.channels],
            }
            for p in pending
        ],
        "done": {rid: outcome.value for rid, outcome in sorted(state.done.items())},
    }
