"""A worker whose broker forgot everything while its data directory stayed.

The embedded broker keeps nothing when it stops; an Apache Kafka changelog can
be deleted or truncated. Faust alone then refuses to start (the stored offset
is past the changelog's end). The worker must discard what no changelog backs,
say so, ask for a resync, and rebuild every plan from the booking store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.booking.publishing.broker_memory import BrokerMemory
from services.booking.publishing.relay import OutboxRelay
from services.booking.store.store import BookingStore
from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.clock import ScaledClock
from services.shared.control import read_control
from services.shared.topics import Topics, ensure_topics
from tests.integration.reminders.worker import Worker
from tests.unit.reminders.factories import booking, event

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers]


@dataclass
class Planned:
    """A booking store whose bookings one worker planned on a broker since stopped."""

    store: BookingStore
    clock: ScaledClock
    port: int
    patients: int
    pending: int


def planned_on_a_first_broker(tmp_path: Path, topics: Topics, count: int) -> Planned:
    """``count`` bookings in a booking store, published through its relay to a broker on a
    port of its own, planned by a worker; the worker and the broker are then stopped."""
    clock = ScaledClock(scale=60.0, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    now = clock.now()
    store = BookingStore(f"sqlite:///{tmp_path}/booking.db")
    bookings = [
        booking(f"bk-l{i}", f"p-l{i}", start=now + timedelta(days=30, minutes=i), booked_at=now)
        for i in range(count)
    ]
    for made in bookings:
        store.insert(event(made), topics.bookings, fingerprint=made.booking_id)
    pending = sum(
        len(plan_patient([b], ProtocolRegistry.builtin(), ClinicPolicy())) for b in bookings
    )
    port = free_port()
    with EmbeddedBroker(port) as first_broker:
        _publish_everything(store, first_broker.bootstrap, topics, clock)
        worker = Worker(first_broker.bootstrap, topics, tmp_path, clock).start()
        worker.wait_ready()
        assert _wait_for(worker, count, pending)
        time.sleep(1.0)  # the changelog writes of the last batch land
        worker.stop()
    return Planned(store, clock, port, count, pending)


def test_a_worker_on_a_broker_that_lost_its_topics_rebuilds_every_plan(tmp_path: Path) -> None:
    topics = Topics("lost.")
    first = planned_on_a_first_broker(tmp_path, topics, 60)
    store, clock = first.store, first.clock

    with EmbeddedBroker(first.port) as forgetful:  # same address, nothing kept
        ensure_topics(forgetful.bootstrap, topics.all(), 4)
        worker = Worker(forgetful.bootstrap, topics, tmp_path, clock).start()
        try:
            worker.wait_ready(starts=2)
            assert worker.service.printed("resync asked of the booking service")
            assert worker.view("/reminders/stats")["patients"] == 0
            request = read_control(forgetful.bootstrap, topics.control).open_request()
            assert request is not None and request.requested_by == "reminders worker 1"

            _publish_everything(store, forgetful.bootstrap, topics, clock)
            assert _wait_for(worker, first.patients, first.pending), worker.view("/reminders/stats")
            answered = read_control(forgetful.bootstrap, topics.control)
            assert answered.open_request() is None and answered.marker is not None
        finally:
            worker.stop()
    assert "ConsistencyError" not in worker.log()


def test_a_worker_finding_the_booking_store_already_resynced_asks_for_nothing(
    tmp_path: Path,
) -> None:
    """``make run`` started again: the booking service finds its marker gone and queues
    every booking before the worker finds its local plans unbacked. The worker reads
    those snapshots anyway, so it rebuilds from them without asking for a second resync."""
    topics = Topics("resynced.")
    first = planned_on_a_first_broker(tmp_path, topics, 40)
    store, clock = first.store, first.clock

    with EmbeddedBroker(first.port) as forgetful:
        ensure_topics(forgetful.bootstrap, topics.all(), 4)
        _publish_everything(store, forgetful.bootstrap, topics, clock)  # the marker's resync
        marker = read_control(forgetful.bootstrap, topics.control).marker
        assert marker is not None and marker.bookings_from == {p: 0 for p in range(4)}
        worker = Worker(forgetful.bootstrap, topics, tmp_path, clock).start()
        try:
            worker.wait_ready(starts=2)
            assert _wait_for(worker, first.patients, first.pending), worker.view("/reminders/stats")
            assert worker.service.printed("no resync asked: the booking store's resync")
            assert read_control(forgetful.bootstrap, topics.control).request is None
        finally:
            worker.stop()


def _publish_everything(
    store: BookingStore, bootstrap: str, topics: Topics, clock: ScaledClock
) -> None:
    """What the booking service's relay does: check the broker remembers, then drain the outbox."""
    memory = BrokerMemory(store, bootstrap, topics, clock)
    relay = OutboxRelay(store, bootstrap, clock, memory=memory)
    try:
        while relay.publish_pending():
            pass
    finally:
        relay.stop()


def _wait_for(worker: Worker, patients: int, pending: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stats = worker.view("/reminders/stats")
        if (stats["patients"], stats["pending"]) == (patients, pending):
            return True
        time.sleep(0.2)
    return False
