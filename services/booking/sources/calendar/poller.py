"""Following calendar feeds: a pass over each every N seconds, on one background thread.

A feed that cannot be read, or a database that fails mid-pass, is reported and
tried again at the next interval; nothing stops the poller but :meth:`stop`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from services.booking.service import BookingService
from services.booking.settings import CalendarFeedSettings
from services.booking.sources.calendar.feeds import open_feed
from services.booking.sources.calendar.mapping import CalendarMapping
from services.booking.sources.calendar.state import CalendarState, feed_name
from services.booking.sources.calendar.sync import CalendarFeed, CalendarSync
from services.booking.sources.report import SyncReport

log = logging.getLogger(__name__)
OnReport = Callable[[CalendarFeed, SyncReport], None]
OnError = Callable[[CalendarFeed, Exception], None]


def build_feed(entry: CalendarFeedSettings) -> CalendarFeed:
    """The feed an entry of the settings names.

    Raises:
        OSError, ValueError: the mapping file cannot be read or is not a mapping.
    """
    mapping = CalendarMapping()
    if entry.mapping is not None:
        mapping = CalendarMapping.from_yaml(entry.mapping.read_text(encoding="utf-8"))
    name = entry.name or feed_name(entry.url)
    return CalendarFeed(name, entry.clinic_id, open_feed(entry.url), mapping)


class _LogRejections:
    """Logs each rejected event once per reason, not at every pass."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()

    def __call__(self, feed: CalendarFeed, report: SyncReport) -> None:
        for result in report.rejected:
            key = (feed.name, result.uid, result.reason)
            if key not in self._seen:
                self._seen.add(key)
                log.warning(
                    "calendar %s: event %s rejected: %s", feed.name, result.uid, result.reason
                )


def _log_error(feed: CalendarFeed, exc: Exception) -> None:
    log.warning("calendar %s: pass failed, retrying at the next interval: %s", feed.name, exc)


class CalendarPoller:
    """Runs a :class:`CalendarSync` pass over each feed every ``interval`` seconds."""

    def __init__(
        self,
        feeds: Sequence[CalendarFeed],
        service: BookingService,
        interval: float,
        on_report: OnReport | None = None,
        on_error: OnError = _log_error,
    ) -> None:
        state = CalendarState(service.store.engine)
        self._syncs = [CalendarSync(feed, service, state) for feed in feeds]
        self._interval = interval
        self._on_report = on_report or _LogRejections()
        self._on_error = on_error
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """One pass over every feed; never raises for a feed's or the database's failure."""
        for sync in self._syncs:
            try:
                report = sync.run_once()
            except Exception as exc:
                self._on_error(sync.feed, exc)
            else:
                self._on_report(sync.feed, report)

    def run(self) -> None:
        """Poll until :meth:`stop`; blocks the calling thread."""
        while not self._stopping.is_set():
            self.poll_once()
            self._stopping.wait(self._interval)

    def start(self) -> None:
        """Poll on a daemon thread."""
        self._thread = threading.Thread(target=self.run, name="calendar-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the poller to stop and wait up to ``timeout`` for the pass under way."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
