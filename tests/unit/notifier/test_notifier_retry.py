"""How long a transient failure is retried: while the message is of use, never past it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.notifier.delivery.retry import Backoff, RetryPolicy
from tests.support.reminders import reminder

DUE = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def test_a_reminder_with_a_stale_instant_is_retried_until_then() -> None:
    stale = DUE + timedelta(hours=6)
    assert RetryPolicy().useful_until(reminder(stale_at=stale)) == stale


def test_a_reminder_before_the_appointment_is_retried_at_latest_until_it_starts() -> None:
    assert RetryPolicy().useful_until(reminder(stale_at=START + timedelta(days=2))) == START


def test_an_aftercare_reminder_that_never_goes_stale_is_retried_for_the_window() -> None:
    after = reminder(due_at=START + timedelta(days=1), appointment_start=START)
    policy = RetryPolicy(window=timedelta(hours=12))
    assert policy.useful_until(after) == START + timedelta(days=1, hours=12)


def test_no_attempt_is_planned_at_or_past_the_last_useful_instant() -> None:
    policy = RetryPolicy(Backoff(base=60, cap=60, rng=random.Random(1)))
    close = reminder(stale_at=DUE + timedelta(seconds=30))
    assert policy.next_attempt(close, 1, DUE, retry_after=30) is None
    assert policy.next_attempt(close, 1, DUE, retry_after=29) == DUE + timedelta(seconds=29)


def test_backoff_grows_to_its_cap_and_honours_a_longer_retry_after() -> None:
    backoff = Backoff(base=1, cap=10, rng=random.Random(3))
    assert all(0 <= backoff.delay(n) <= min(10, 2 ** (n - 1)) for n in range(1, 12))
    assert backoff.delay(3, retry_after=120) == 120
