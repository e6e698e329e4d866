"""A token bucket per sender: providers take only so many segments a second."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


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
