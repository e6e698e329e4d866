"""A booking API over a SQLite store in the test's own folder, with a hand-moved clock."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from tests.support.bookings import booking_request

NOW = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
Payload = Callable[..., dict[str, Any]]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BookingStore]:
    store = BookingStore(f"sqlite:///{tmp_path}/booking.db")
    yield store
    store.close()


@pytest.fixture
def settings(tmp_path: Path) -> BookingSettings:
    return BookingSettings(var_dir=tmp_path, topic_prefix="unit.")


@pytest.fixture
def client(settings: BookingSettings, store: BookingStore, clock: ManualClock) -> TestClient:
    return TestClient(create_app(settings, store, clock))


@pytest.fixture
def payload() -> Payload:
    """The v1 booking of the README, with any top-level or patient field replaced."""

    return booking_request
