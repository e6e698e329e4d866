"""When to try a transient failure again, and until when a message is worth trying."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.shared.events import ReminderDue

RETRY_AFTER_CEILING = 86_400.0
RETRY_WINDOW = timedelta(hours=24)
"""How long a reminder that never goes stale is tried (``CLINIC_RETRY_WINDOW_HOURS``)."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, capped; a provider's Retry-After wins.

    Attempt ``n`` (from 1) waits a random time in ``[0, min(cap, base * 2**(n-1))]``,
    or exactly ``retry_after`` when the provider said how long (a day at most).
    Seconds are platform seconds: the retry is due on the platform's clock.
    """

    base: float = 0.5
    cap: float = 300.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(RETRY_AFTER_CEILING, max(0.0, retry_after))
        ceiling = min(self.cap, self.base * 2 ** max(0, attempt - 1))
        return self.rng.uniform(0.0, ceiling)


def useful_until(
    due_at: datetime,
    stale_at: datetime | None,
    appointment_start: datetime,
    window: timedelta = RETRY_WINDOW,
) -> datetime:
    """The last instant a reminder is worth trying again.

    Its ``stale_at`` when it has one, else ``window`` after it came due; a
    reminder before the appointment is of no use once the appointment began.
    """
    until = stale_at or due_at + window
    if due_at < appointment_start:
        until = min(until, appointment_start)
    return until


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try again (``backoff``) and for how long (:meth:`useful_until`).

    ``window`` bounds a reminder that never goes stale: retried for that long
    after it came due.
    """

    backoff: Backoff = field(default_factory=Backoff)
    window: timedelta = RETRY_WINDOW

    def useful_until(self, reminder: ReminderDue) -> datetime:
        """The last instant a retry may send ``reminder`` (see :func:`useful_until`)."""
        return useful_until(
            reminder.due_at, reminder.stale_at, reminder.appointment_start, self.window
        )

    def next_attempt(
        self, reminder: ReminderDue, attempt: int, now: datetime, retry_after: float | None
    ) -> datetime | None:
        """When attempt ``attempt + 1`` is due, or None when it would come too late."""
        at = now + timedelta(seconds=self.backoff.delay(attempt, retry_after))
        return at if at < self.useful_until(reminder) else None
