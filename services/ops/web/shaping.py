"""Pure shaping of what the sources give: hourly series and the day's reconciliation.

Nothing here reads a database, the broker or the clock: callers pass rows and
instants in, so every number on the page can be checked by a unit test.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.queries import LedgerRow

SERIES = ("sent", "failed", "skipped", "pending", "unknown")
"""The states drawn on the chart; ``sending`` counts as pending, ``delivered`` as sent."""
SETTLED = ("sent", "failed", "skipped")


@dataclass(frozen=True)
class DueReminder:
    """A reminder the worker emitted as due (from the due topic)."""

    reminder_id: str
    clinic_id: str
    booking_id: str
    milestone: str
    channels: tuple[str, ...]
    due_at: datetime


@dataclass(frozen=True)
class HourCount:
    """Ledger rows whose last change fell in the hour starting at ``hour``, by series."""

    hour: datetime
    counts: dict[str, int]


def series_of(state: str) -> str:
    """The chart series a ledger state belongs to."""
    return {"sending": "pending", "delivered": "sent"}.get(state, state)


def hour_floor(instant: datetime) -> datetime:
    return instant.replace(minute=0, second=0, microsecond=0)


def hourly_series(
    rows: Iterable[LedgerRow], now: datetime, hours: int = 24
) -> dict[str, list[HourCount]]:
    """Per clinic, ``hours`` hourly buckets ending with the current hour, oldest first.

    Rows outside the buckets are left out; every clinic gets every bucket, zeros included.
    """
    last = hour_floor(now)
    starts = [last - timedelta(hours=n) for n in range(hours - 1, -1, -1)]
    counts: dict[str, dict[datetime, Counter[str]]] = defaultdict(dict)
    for row in rows:
        hour = hour_floor(row.updated_at)
        if starts[0] <= hour <= last:
            counts[row.clinic_id].setdefault(hour, Counter())[series_of(row.state)] += 1
    return {
        clinic: [HourCount(h, {s: by_hour.get(h, Counter())[s] for s in SERIES}) for h in starts]
        for clinic, by_hour in sorted(counts.items())
    }


def totals(series: Iterable[HourCount]) -> dict[str, int]:
    """The sum of each series over the buckets."""
    total: Counter[str] = Counter()
    for bucket in series:
        total.update(bucket.counts)
    return {s: total[s] for s in SERIES}
