"""Failed logins counted per client address: past a few in a window, logins are refused."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class LoginThrottle:
    """At most ``max_failures`` failed logins per key within ``window`` seconds."""

    def __init__(
        self, max_failures: int, window: float, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._max = max_failures
        self._window = window
        self._now = now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_left(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        now = self._now()
        with self._lock:
            recent = self._recent(key, now)
            if not recent:
                self._failures.pop(key, None)  # an address that stopped failing is forgotten
            if len(recent) < self._max:
                return 0.0
            return max(0.0, recent[0] + self._window - now)

    def failed(self, key: str) -> None:
        now = self._now()
        with self._lock:
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
