"""Two workers share the partitions; a reschedule races its own due time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ScaledClock
from services.shared.events import BookingEventType
from services.shared.topics import Topics
from tests.integration.reminders.worker import DueReader, Worker, publish
from tests.unit.reminders.factories import booking, event

pytestmark = pytest.mark.integration

REGISTRY = ProtocolRegistry.builtin()


@pytest.mark.both_brokers
def test_two_workers_split_the_partitions_and_emit_each_reminder_once(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path
) -> None:
    clock = ScaledClock(scale=7200.0, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    now = clock.now()
    bookings = [
        booking(f"bk-s{i}", f"p-s{i}", start=now + timedelta(hours=54 + i), booked_at=now)
        for i in range(24)
    ]
    wanted = {
        r.reminder_id
        for b in bookings
        for r in plan_patient([b], REGISTRY, ClinicPolicy())
        if r.due_at <= now + timedelta(hours=60)
    }
    first = Worker(broker.bootstrap, topics, tmp_path, clock, worker_id="1")
    second = Worker(broker.bootstrap, topics, tmp_path, clock, worker_id="2")
    for worker in (first, second):  # day-before reminders are planned beyond the window
        worker.env["CLINIC_DUE_WINDOW_HOURS"] = "1"
    first.start()
    try:
        first.wait_ready()
        publish(broker.bootstrap, topics.bookings, [event(b) for b in bookings[:12]])
        reader = DueReader(broker.bootstrap, topics.due)
        reader.until(lambda seen: len(seen) >= 12, 20)
        second.start()
        second.wait_ready()
        joined = time.time()
        publish(broker.bootstrap, topics.bookings, [event(b) for b in bookings[12:]])
        got = reader.until(lambda seen: {d.reminder_id for d in seen} >= wanted, 60)
        ids = [d.reminder_id for d in got]
        assert wanted <= set(ids), (first.log(), second.log())
        assert len(ids) == len(set(ids)), "a reminder was emitted twice across the rebalance"
        for arrived, due in reader.received:
            if arrived > joined + 2 and due.reminder_id in wanted:  # due after the rebalance
                late = arrived - (clock.anchor + (due.due_at - clock.start).total_seconds() / 7200)
                assert late < 1.5, (due.milestone, late)
        mine = set(first.view("/reminders/stats")["partitions"])
        theirs = set(second.view("/reminders/stats")["partitions"])
        assert mine and theirs and not mine & theirs and mine | theirs == {0, 1, 2, 3}
    finally:
        second.stop()
        first.stop()


def test_a_reschedule_racing_its_due_time_never_sends_the_old_plan_after_the_move(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path
) -> None:
    clock = ScaledClock(scale=7200.0, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    worker = Worker(broker.bootstrap, topics, tmp_path, clock).start()
    try:
        worker.wait_ready()
        now = clock.now()
        made = booking("bk-race", "p-race", start=now + timedelta(hours=52), booked_at=now)
        old = {r.milestone: r for r in plan_patient([made], REGISTRY, ClinicPolicy())}
        due = old["treatment-reminder"].due_at
        publish(broker.bootstrap, topics.bookings, [event(made)])
        while clock.now() < due - timedelta(minutes=20):
            time.sleep(0.01)
        moved = made.model_copy(
            update={"start": made.start + timedelta(days=7), "schedule_version": 2}
        )
        publish(broker.bootstrap, topics.bookings, [event(moved, BookingEventType.RESCHEDULED)])
        new = {r.reminder_id for r in plan_patient([moved], REGISTRY, ClinicPolicy())}
        reader = DueReader(broker.bootstrap, topics.due)
        got = reader.until(lambda seen: False, 8)
    finally:
        worker.stop()
    ids = [d.reminder_id for d in got]
    assert len(ids) == len(set(ids)), "a reminder was emitted twice"
    stale = {r.reminder_id for r in old.values()} - {
        old["treatment-consultation-fee"].reminder_id,
        old["treatment-prepare"].reminder_id,
        old["treatment-reminder"].reminder_id,
    }
    assert not stale & set(ids), "the old plan was sent after the move"
    for milestone in ("treatment-consultation-fee", "treatment-prepare"):
        assert sum(d.milestone == milestone for d in got) <= 2
    assert {d.reminder_id for d in got if d.booking_id == "bk-race"} - {
        r.reminder_id for r in old.values()
    } <= new
