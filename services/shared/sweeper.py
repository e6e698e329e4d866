"""A thread that removes what is kept past its retention, on a schedule, and says how much.

Each service hands it its own sweep (a function of "now" returning counts per
kind of record); the sweeper runs it at start and then every ``every``
seconds, logging the counts, and never lets a failed sweep stop the service.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import datetime

from services.shared.background import Background
from services.shared.clock import Clock

log = logging.getLogger(__name__)
log.setLevel(logging.INFO)  # a sweep is reported even where a service logs only warnings

Sweep = Callable[[datetime], Mapping[str, int]]
"""Removes what is past its retention at the given instant; returns counts by kind."""


class Sweeper(Background):
    """Runs ``sweep`` now and every ``every`` real seconds until stopped."""

    def __init__(self, name: str, sweep: Sweep, clock: Clock, every: float = 3600.0) -> None:
        super().__init__()
        self.name = f"{name}-retention"
        self._name = name
        self._sweep = sweep
        self._clock = clock
        self._every = every

    def sweep_once(self) -> Mapping[str, int]:
        """One sweep, logged with its counts; a failure is logged and returns nothing."""
        try:
            counts = self._sweep(self._clock.now())
        except Exception:  # the next sweep tries again; the service must go on
            log.exception("%s retention sweep failed; next in %.0f s", self._name, self._every)
            return {}
        removed = ", ".join(f"{count} {kind}" for kind, count in counts.items() if count)
        log.info("%s retention sweep: removed %s", self._name, removed or "nothing")
        return counts

    def run(self) -> None:
        while not self.stopping.is_set():
            self.sweep_once()
            self.stopping.wait(self._every)
