"""What ops ask of the schedule: counts by state, the next due, one patient's plan."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from services.reminders.state import PatientState


def summarize(states: Iterable[PatientState], now: datetime) -> dict[str, Any]:
    """Counts over every patient this worker holds (reads all of them: an ops query)."""
    counts: Counter[str] = Counter()
    milestones: Counter[str] = Counter()
    next_due: datetime | None = None
    soon = now + timedelta(hours=1)
    for state in states:
        counts["patients"] += 1
        counts["pending"] += len(state.pending)
        counts.update(outcome.value for outcome in state.done.values())
        for pending in state.pending.values():
            milestones[pending.milestone] += 1
            counts["due_next_hour"] += pending.due_at <= soon
            if next_due is None or pending.due_at < next_due:
                next_due = pending.due_at
    return {
        "now": now.isoformat(),
        "patients": counts["patients"],
        "pending": counts["pending"],
        "due_next_hour": counts["due_next_hour"],
        "emitted": counts["emitted"],
        "skipped": counts["skipped"],
        "next_due": next_due.isoformat() if next_due else None,
        "pending_by_milestone": dict(sorted(milestones.items())),
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
