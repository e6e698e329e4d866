"""One reminders worker on its own topics: started, loaded, and watched through its changelog."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.bookings import record
from bench.kafka_io import Offsets, produce
from bench.worker import Worker
from services.shared.clock import ScaledClock
from services.shared.events import Booking
from services.shared.topics import Topics, ensure_topics

PARTITIONS = 4
SCALE = 60.0
"""One platform minute per real second: one due-index bucket (60 s) per real second."""
START = datetime(2026, 12, 1, 8, 5, tzinfo=UTC)
"""A winter morning just after quiet hours, so that nothing planned is moved by them."""


@dataclass
class Load:
    """How fast one batch of booking events went through the worker."""

    events: int
    seconds: float
    first_write_seconds: float
    written_at_first_look: int

    @property
    def rate(self) -> float:
        """Events per second from the first send to the last changelog write."""
        return self.events / self.seconds

    @property
    def steady_rate(self) -> float:
        """Events per second from the first changelog write seen to the last.

        Leaves out the time the load took to be produced and first fetched,
        as the raw-consume baseline does.
        """
        busy = self.seconds - self.first_write_seconds
        return (self.events - self.written_at_first_look) / busy if busy > 0 else self.rate


class Stack:
    """A worker, its topics, and the patients changelog it writes once per booking event."""

    def __init__(
        self,
        bootstrap: str,
        name: str,
        var_dir: Path,
        module: str = "services.reminders",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.name = name
        self.topics = Topics(f"bench-{name}-{int(time.time())}.")
        ensure_topics(bootstrap, self.topics.all(), PARTITIONS)
        self.clock = ScaledClock(scale=SCALE, start=START)
        self.worker = Worker(
            bootstrap, self.topics.prefix, var_dir / name, self.clock, module, extra_env
        )
        changelog = f"{self.topics.prefix}clinic-reminders-patients-changelog"
        ensure_topics(bootstrap, [changelog], PARTITIONS)
        self.changelog_topic = changelog
        self.changelog = Offsets(bootstrap, changelog, PARTITIONS)
        self.applied = 0

    def start(self) -> float:
        """Start the worker; real seconds until it said it was ready."""
        began = time.time()
        self.worker.start()
        return self.worker.wait_ready() - began

    def load(self, bookings: list[Booking], timeout: float = 900.0) -> Load:
        """Publish one event per booking; block until the worker has written each patient."""
        before = self.changelog.total()
        began = time.time()
        self.publish(bookings)
        return self.wait_written(before, len(bookings), began, timeout)

    def publish(self, bookings: list[Booking]) -> None:
        """Publish one event per booking, the worker running or not."""
        produce(self.bootstrap, self.topics.bookings, [record(b) for b in bookings])

    def wait_written(self, before: int, events: int, began: float, timeout: float = 900.0) -> Load:
        """Block until the changelog holds ``events`` more writes than ``before``."""
        series = self.changelog.wait_for(before + events, timeout)
        self.applied = series[-1][1]
        first, seen = next(((t, n) for t, n in series if n > before), series[-1])
        return Load(events, series[-1][0] - began, first - began, seen - before)

    def real_time_of(self, instant: datetime) -> float:
        return self.clock.anchor + (instant - self.clock.start).total_seconds() / SCALE

    def platform_in(self, real_seconds: float) -> datetime:
        return self.clock.now() + timedelta(seconds=real_seconds * SCALE)

    def close(self) -> None:
        self.worker.stop()
        self.changelog.close()
