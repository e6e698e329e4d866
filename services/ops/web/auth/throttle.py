"""Failed logins counted per client address and per user name: past a few in a window,
logins are refused.

A try takes its slot before the password is checked (:meth:`LoginThrottle.take`),
so guesses sent side by side are counted as they arrive, not once each has been
checked; a login that succeeds gives its slot back and clears its address.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

PER_USER_FACTOR = 3
"""A user name is locked after this many times the per-address limit, from any addresses:
guesses spread over many addresses still stop, and one address alone cannot lock a user out
of every other address."""


class LoginThrottle:
    """At most ``max_failures`` failed logins per address within ``window`` seconds, and
    ``PER_USER_FACTOR`` times as many per user name."""

    def __init__(
        self, max_failures: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._window = window
        self._now = now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def take(self, address: str, user: str) -> float:
        """Count one try of ``user`` from ``address`` now, before its password is checked.

        Returns 0 when it may go on, else the seconds until it may (nothing counted).
        """
        now = self._now()
        keys = self._keys(address, user)
        with self._lock:
            waits = [self._wait(key, limit, now) for key, limit in keys]
            if any(waits):
                return max(waits)
            for key, _ in keys:
                self._recent(key, now).append(now)
            return 0.0

    def succeeded(self, address: str, user: str) -> None:
        """The password was right: the try's slots are given back, the address forgotten."""
        with self._lock:
            self._failures.pop(f"address:{address}", None)
            user_tries = self._failures.get(f"user:{user}")
            if user_tries:
                user_tries.pop()

    def _keys(self, address: str, user: str) -> Sequence[tuple[str, int]]:
        return ((f"address:{address}", self._max), (f"user:{user}", self._max * PER_USER_FACTOR))

    def _wait(self, key: str, limit: int, now: float) -> float:
        recent = self._recent(key, now)
        if not recent:
            self._failures.pop(key, None)  # a key that stopped failing is forgotten
            return 0.0
        if len(recent) < limit:
            return 0.0
        return max(0.0, recent[-limit] + self._window - now)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
