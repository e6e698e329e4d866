"""The day's reconciliation: reminders due in the window against the ledger's outcomes."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from services.notifier.queries import LedgerRow
from services.ops.web.shaping import SETTLED, DueReminder, series_of

MISSING_SHOWN = 20
"""How many missing reminder ids each clinic lists; the count is always exact."""


@dataclass(frozen=True)
class Reconciliation:
    """One clinic's reminders due in the window against what became of them.

    Counted per reminder and channel. ``missing`` were due but have no ledger
    row; ``in_progress`` have one still pending, sending or unknown;
    ``unplanned`` are ledger rows changed in the window with no due reminder seen
    (the embedded broker forgets its topics on restart, the ledger does not).
    """

    clinic_id: str
    scheduled: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    in_progress: int = 0
    missing: int = 0
    unplanned: int = 0
    missing_ids: list[str] = field(default_factory=list)

    @property
    def difference(self) -> int:
        """Scheduled less settled (sent, failed, skipped): 0 when every one is accounted for."""
        return self.scheduled - self.sent - self.failed - self.skipped


def reconcile(
    due: Iterable[DueReminder], rows: Iterable[LedgerRow], since: datetime, until: datetime
) -> list[Reconciliation]:
    """Per clinic (sorted), the reminders due in ``[since, until]`` and their outcomes.

    A reminder seen twice on the due topic (an at-least-once replay) counts once.
    """
    scheduled = {
        (d.reminder_id, channel): d
        for d in due
        if since <= d.due_at <= until
        for channel in d.channels
    }
    ledger = {(r.reminder_id, r.channel): r for r in rows}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    missing: dict[str, list[str]] = defaultdict(list)
    for key, reminder in sorted(scheduled.items()):
        tally = counts[reminder.clinic_id]
        tally["scheduled"] += 1
        row = ledger.get(key)
        if row is None:
            tally["missing"] += 1
            missing[reminder.clinic_id].append(f"{key[0]} ({key[1]})")
        else:
            state = series_of(row.state)
            tally[state if state in SETTLED else "in_progress"] += 1
    for key, row in ledger.items():
        if key not in scheduled and since <= row.updated_at <= until:
            counts[row.clinic_id]["unplanned"] += 1
    return [_one(clinic, counts[clinic], missing[clinic]) for clinic in sorted(counts)]


def _one(clinic: str, tally: Counter[str], missing: list[str]) -> Reconciliation:
    return Reconciliation(
        clinic,
        scheduled=tally["scheduled"],
        sent=tally["sent"],
        failed=tally["failed"],
        skipped=tally["skipped"],
        in_progress=tally["in_progress"],
        missing=tally["missing"],
        unplanned=tally["unplanned"],
        missing_ids=missing[:MISSING_SHOWN],
    )
