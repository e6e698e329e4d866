"""Different patients delivered side by side; one patient's in order; a failure commits nothing."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import cast

import pytest
from kafka import KafkaConsumer, KafkaProducer

from services.notifier.consumer import Delivering, NotifierLoop, Origin
from services.notifier.delivery import Deliverer, Outcome, Source
from services.shared.clinics import ClinicDirectory
from services.shared.clock import ManualClock
from services.shared.events import (
    Channel,
    DeliveryState,
    NotificationStatus,
    ReminderDue,
)
from services.shared.topics import Topics
from tests.support.reminders import patient, reminder

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TAKES = 0.2


class SlowDeliverer:
    """Takes ``TAKES`` seconds per delivery, as a provider's answer does; notes when each ran."""

    def __init__(self, fail: str | None = None) -> None:
        self.runs: list[tuple[str, float, float]] = []
        self._fail = fail
        self._lock = threading.Lock()

    def dropped(self, due: ReminderDue) -> str | None:
        return None

    def drop(self, due: ReminderDue, channel: Channel, reason: str) -> None:
        raise AssertionError("nothing is dropped here")

    def deliver(self, due: ReminderDue, channel: Channel, source: Source | None = None) -> Outcome:
        began = time.monotonic()
        time.sleep(TAKES)
        with self._lock:
            self.runs.append((due.reminder_id, began, time.monotonic()))
        if due.reminder_id == self._fail:
            raise OSError(f"the ledger went away while delivering {due.reminder_id}")
        status = NotificationStatus(
            reminder_id=due.reminder_id,
            clinic_id=due.clinic_id,
            booking_id=due.booking_id,
            milestone=due.milestone,
            channel=channel,
            state=DeliveryState.SENT,
            occurred_at=NOW,
        )
        return Outcome(status)


class Published:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None]] = []

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> None:
        self.sent.append((topic, key))


def loop(deliverer: SlowDeliverer, pool: ThreadPoolExecutor) -> NotifierLoop:
    return NotifierLoop(
        Topics("t."),
        ManualClock(NOW),
        cast(Deliverer, deliverer),
        ClinicDirectory({}),
        cast(KafkaConsumer, None),
        cast(KafkaProducer, Published()),
        pool=pool,
    )


def due(patient_id: str, n: int = 1) -> Delivering:
    made = reminder(
        reminder_id=f"{patient_id}-{n}", patient=patient(id=patient_id), channels=(Channel.SMS,)
    )
    return Origin("t.due", 0, n, made.key, made.model_dump_json()), made, made.channels


def test_different_patients_go_side_by_side_and_one_patients_in_order() -> None:
    deliverer = SlowDeliverer()
    batch = [due("p-1"), due("p-2"), due("p-1", 2), due("p-3"), due("p-4")]
    with ThreadPoolExecutor(8) as pool:
        began = time.monotonic()
        loop(deliverer, pool)._deliver_all(batch)
        took = time.monotonic() - began
    assert sorted(r for r, _, _ in deliverer.runs) == sorted(m.reminder_id for _, m, _ in batch)
    assert took < 3 * TAKES, f"five deliveries of {TAKES} s took {took:.2f} s"
    first, second = (next(r for r in deliverer.runs if r[0] == rid) for rid in ("p-1-1", "p-1-2"))
    assert first[2] <= second[1], "one patient's reminders go one after another, in order"


def test_a_failure_mid_batch_is_raised_after_every_started_delivery_returned() -> None:
    deliverer = SlowDeliverer(fail="p-2-1")
    with ThreadPoolExecutor(8) as pool, pytest.raises(OSError, match="p-2-1"):
        loop(deliverer, pool)._deliver_all([due("p-1"), due("p-2"), due("p-3")])
    assert {r for r, _, _ in deliverer.runs} == {"p-1-1", "p-2-1", "p-3-1"}
