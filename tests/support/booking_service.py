"""The booking service in-process for tests: its API, outbox relay and reply follower on the
real broker, and a way to wait for what they do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.publishing.relay import OutboxRelay
from services.booking.publishing.replies import Confirmations, ReplyFollower
from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import Clock
from services.shared.topics import Topics
from tests.support.bookings import booking_request

BOOKING: dict[str, Any] = booking_request()
"""Jane's treatment at dr-jenny on 1 December 2026."""


@dataclass(frozen=True)
class RunningBookings:
    """The running booking service: its API, and its store's URL."""

    api: TestClient
    url: str

    def event_types(self, booking_id: str) -> list[str]:
        events = self.api.get(f"/v1/bookings/{booking_id}/events").json()["events"]
        return [e["type"] for e in events]


@contextmanager
def booking_service(
    bootstrap: str, topics: Topics, group_id: str, folder: Path, clock: Clock
) -> Iterator[RunningBookings]:
    """The booking service's API, relay and reply follower (in ``group_id``), until closed."""
    url = f"sqlite:///{folder}/booking.db"
    store = BookingStore(url)
    settings = BookingSettings(var_dir=folder, topic_prefix=topics.prefix)
    relay = OutboxRelay(store, bootstrap, clock, poll_seconds=0.05)
    api = TestClient(create_app(settings, store, clock, notify=relay.wake))
    service: BookingService = api.app.state.service  # type: ignore[attr-defined]
    follower = ReplyFollower(Confirmations(service), bootstrap, topics.replies, group_id, 6_000)
    relay.start()
    follower.start()
    try:
        yield RunningBookings(api, url)
    finally:
        follower.stop()
        relay.stop()
        store.close()
