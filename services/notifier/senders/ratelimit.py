"""A token bucket per sender: providers take only so many segments a second.

:class:`SharedTokenBucket` holds the rate across every notifier sharing the
ledger's database; :class:`TokenBucket` holds it in one process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError

from services.notifier.exceptions import RetryableSendError
from services.notifier.senders.rate_buckets import Rate

SLICE_SECONDS = 0.25
"""A replica takes about this long's worth of tokens at a time (at most the burst)."""
HOLD_SECONDS = 1.0
"""Tokens of a slice not used this long after they came are given up, never saved up:
a replica that fell idle cannot add them to another replica's burst later."""


class Bucket(Protocol):
    def take(self, tokens: float = 1.0) -> float:
        """Block until ``tokens`` may be spent, spend them; return the seconds waited."""
        ...


class Reservations(Protocol):
    """Where a shared bucket's rows live
    (:class:`services.notifier.senders.rate_buckets.RateBuckets`)."""

    def reserve(self, sender: str, tokens: float, rate: Rate, now: float) -> float: ...


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up.

    :meth:`take` blocks (through ``sleep``) until enough tokens are there; a
    request larger than ``burst`` waits for a full bucket and goes into debt.
    """

    def __init__(
        self,
        rate: float,
        burst: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("a token bucket needs a positive rate and burst")
        self._rate = rate
        self._burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = burst
        self._at = monotonic()
        self._lock = threading.Lock()

    def take(self, tokens: float = 1.0) -> float:
        """Take ``tokens``; return the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                self._refill()
                needed = min(tokens, self._burst)
                if self._tokens >= needed:
                    self._tokens -= tokens
                    return waited
                pause = (needed - self._tokens) / self._rate
                self._sleep(pause)
                waited += pause

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now


class SharedTokenBucket:
    """One sender's bucket, shared through the database by every replica (see :mod:`rate_buckets`).

    ``rate`` holds for all replicas together. A replica reserves a slice of
    tokens in one transaction (:data:`SLICE_SECONDS` worth, at most the burst,
    at least what is asked), waits until the slice is due, and spends it
    without asking again. :meth:`take` blocks as :class:`TokenBucket`'s does;
    it raises :class:`RetryableSendError` when the database cannot be reached
    (nothing was sent). Times are wall-clock seconds, so replicas on several
    hosts need their clocks in step (NTP): one whose clock is ``d`` seconds
    ahead finds up to ``d * rate`` tokens more than there are, never more than
    the burst.
    """

    def __init__(
        self,
        store: Reservations,
        sender: str,
        rate: Rate,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._store = store
        self._sender = sender
        self._rate = rate
        self._wall = wall
        self._sleep = sleep
        self._slice = max(1, min(rate.burst, math.ceil(rate.per_second * SLICE_SECONDS)))
        self._held = 0.0
        self._held_until = 0.0
        self._lock = threading.Lock()

    def take(self, tokens: float = 1.0) -> float:
        """Take ``tokens``; return the seconds waited."""
        with self._lock:
            if self._wall() > self._held_until:
                self._held = 0.0
            if self._held >= tokens:
                self._held -= tokens
                return 0.0
            wanted = max(self._slice, tokens - self._held)
            ready = self._reserve(wanted)
            waited = max(0.0, ready - self._wall())
            if waited > 0:
                self._sleep(waited)
            self._held += wanted - tokens
            self._held_until = ready + HOLD_SECONDS
            return waited

    def _reserve(self, tokens: float) -> float:
        try:
            return self._store.reserve(self._sender, tokens, self._rate, self._wall())
        except SQLAlchemyError as exc:
            reason = str(exc).splitlines()[0]
            raise RetryableSendError(f"rate bucket {self._sender} unreachable: {reason}") from exc
