"""Resync rebuilds plans from the booking store, and replaying it sends nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.booking.service import BookingService
from services.booking.store.store import BookingStore
from services.cli import main as cli
from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ScaledClock
from services.shared.topics import Topics
from tests.integration.reminders.worker import DueReader, Worker

pytestmark = pytest.mark.integration


def test_resync_replans_every_stored_booking_and_a_second_resync_adds_nothing(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ScaledClock(scale=7200.0, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    url = f"sqlite:///{tmp_path}/booking.db"
    store = BookingStore(url)
    service = BookingService(store, clock, topics.bookings, {"microsclerotherapy"})
    for n in range(3):
        service.create(
            {
                "clinic_id": "dr-jenny",
                "booking_id": f"bk-r{n}",
                "patient": {
                    "id": f"p-r{n}",
                    "first_name": "Ana",
                    "phone": "+447700900123",
                    "timezone": "Europe/London",
                    "consent": {"sms": True},
                },
                "treatment": "microsclerotherapy",
                "kind": "treatment",
                "start": (clock.now() + timedelta(days=8 + n)).isoformat(),
            }
        )
    stored = list(store.iter_bookings())
    expected = set()
    for booking in stored:
        expected |= {
            r.reminder_id
            for r in plan_patient([booking], ProtocolRegistry.builtin(), ClinicPolicy())
            if r.due_at <= clock.now() + timedelta(days=2)
        }
    worker = Worker(broker.bootstrap, topics, tmp_path, clock).start()
    worker.wait_ready()
    for name, value in {
        **clock.environment(),
        "CLINIC_BOOTSTRAP_SERVERS": broker.bootstrap,
        "CLINIC_TOPIC_PREFIX": topics.prefix,
        "CLINIC_BOOKING_DATABASE_URL": url,
    }.items():
        monkeypatch.setenv(name, value)
    try:
        assert cli(["resync"]) == 0
        reader = DueReader(broker.bootstrap, topics.due)
        reader.until(lambda seen: {d.reminder_id for d in seen} >= expected, 30)
        assert cli(["resync"]) == 0
        ids = [d.reminder_id for d in reader.until(lambda seen: False, 4)]
    finally:
        worker.stop()
    assert expected and expected <= set(ids)
    assert len(ids) == len(set(ids)), "a reminder was emitted twice"
