"""Following clinics' booking sources (calendar feeds, FHIR servers): a pass over each every
N seconds, on one background thread.

A source that cannot be read, or a database that fails mid-pass, is reported and
tried again at the next interval; nothing stops the poller but :meth:`stop`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Protocol

from services.booking.sources.report import SyncReport

log = logging.getLogger(__name__)
OnReport = Callable[[str, SyncReport], None]
"""Called with the source's name and its pass's report."""
OnError = Callable[[str, Exception], None]


class SourcePass(Protocol):
    """One clinic source's pass: :class:`CalendarSync`, :class:`FhirSync`."""

    @property
    def name(self) -> str: ...

    def run_once(self) -> SyncReport: ...


class LogRejections:
    """Logs each refused item once per reason, not at every pass."""

    def __init__(self, kind: str) -> None:
        self._kind = kind
        self._seen: set[tuple[str, str, str]] = set()

    def __call__(self, name: str, report: SyncReport) -> None:
        for result in report.rejected:
            key = (name, result.uid, result.reason)
            if key not in self._seen:
                self._seen.add(key)
                log.warning("%s %s: %s refused: %s", self._kind, name, result.uid, result.reason)


class SourcePoller:
    """Runs each source's pass every ``interval`` seconds; ``kind`` names them in the log."""

    def __init__(
        self,
        kind: str,
        passes: Sequence[SourcePass],
        interval: float,
        on_report: OnReport | None = None,
        on_error: OnError | None = None,
    ) -> None:
        self._kind = kind
        self._passes = list(passes)
        self._interval = interval
        self._on_report = on_report or LogRejections(kind)
        self._on_error = on_error or self._log_error
        self._stopping = threading.Event()
        self._woken = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """One pass over every source; never raises for a source's or the database's failure."""
        for each in self._passes:
            try:
                report = each.run_once()
            except Exception as exc:
                self._on_error(each.name, exc)
            else:
                self._on_report(each.name, report)

    def run(self) -> None:
        """Poll until :meth:`stop`; blocks the calling thread."""
        while not self._stopping.is_set():
            self._woken.clear()
            self.poll_once()
            self._woken.wait(self._interval)

    def wake(self) -> None:
        """Make the next pass now rather than at the interval (a source pushed a change)."""
        self._woken.set()

    def start(self) -> None:
        """Poll on a daemon thread, if there is anything to follow."""
        if not self._passes:
            return
        self._thread = threading.Thread(target=self.run, name=f"{self._kind}-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the poller to stop and wait up to ``timeout`` for the pass under way."""
        self._stopping.set()
        self._woken.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _log_error(self, name: str, exc: Exception) -> None:
        log.warning("%s %s: pass failed, retrying at the next interval: %s", self._kind, name, exc)
