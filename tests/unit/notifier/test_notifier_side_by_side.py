"""A batch: different patients handed over side by side, one patient's in order, and an
error of our own raised only once every outcome reached is recorded."""

from __future__ import annotations

import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notifier.delivery.deliverer import Deliverer
from services.notifier.delivery.hand_over import Senders
from services.notifier.delivery.jobs import Job
from services.notifier.delivery.ledger import DeliveryLedger, LedgerState
from services.notifier.delivery.retry import Backoff, RetryPolicy
from services.notifier.messages.rendering import TemplateRenderer
from services.notifier.senders.base import SendResult
from services.notifier.senders.local import LocalEmailSender
from services.shared.clinics import ClinicDirectory
from services.shared.clock import ManualClock
from services.shared.events import Channel, DeliveryState, ReminderDue
from tests.support.reminders import patient, reminder

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TAKES = 0.2


class SlowSms:
    """Takes ``TAKES`` seconds per message, as a provider's answer does; notes when each ran."""

    def __init__(self, fail: str | None = None) -> None:
        self.runs: list[tuple[str, float, float]] = []
        self._fail = fail
        self._lock = threading.Lock()

    def send(self, to: str, body: str, due: ReminderDue) -> SendResult:
        began = time.monotonic()
        time.sleep(TAKES)
        with self._lock:
            self.runs.append((due.reminder_id, began, time.monotonic()))
        if due.reminder_id == self._fail:
            raise OSError(f"the sender broke while delivering {due.reminder_id}")
        return SendResult(provider_id=f"SM-{due.reminder_id}")


def deliverer(tmp_path: Path, defaults: Path, sms: SlowSms, pool: ThreadPoolExecutor) -> Deliverer:
    clock = ManualClock(NOW)
    return Deliverer(
        DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db"),
        TemplateRenderer(None, ClinicDirectory(), defaults_dir=defaults),
        Senders(sms=sms, email=LocalEmailSender(tmp_path, clock, io.StringIO())),
        clock,
        RetryPolicy(Backoff(0.5, 8.0, random.Random(7))),
        pool=pool,
    )


def job(patient_id: str, n: int = 1) -> Job:
    made = reminder(
        reminder_id=f"{patient_id}-{n}", patient=patient(id=patient_id), channels=(Channel.SMS,)
    )
    return Job(made, Channel.SMS)


def test_different_patients_go_side_by_side_and_one_patients_in_order(
    tmp_path: Path, defaults_dir: Path
) -> None:
    sms = SlowSms()
    batch = [job("p-1"), job("p-2"), job("p-1", 2), job("p-3"), job("p-4")]
    with ThreadPoolExecutor(8) as pool:
        began = time.monotonic()
        outcomes = deliverer(tmp_path, defaults_dir, sms, pool).deliver_all(batch)
        took = time.monotonic() - began
    assert [o.status.reminder_id for o in outcomes] == [j.reminder.reminder_id for j in batch]
    assert {o.status.state for o in outcomes} == {DeliveryState.SENT}
    assert took < 3 * TAKES, f"five deliveries of {TAKES} s took {took:.2f} s"
    first, second = (next(r for r in sms.runs if r[0] == rid) for rid in ("p-1-1", "p-1-2"))
    assert first[2] <= second[1], "one patient's reminders go one after another, in order"


def test_a_failure_mid_batch_is_raised_after_every_started_delivery_returned(
    tmp_path: Path, defaults_dir: Path
) -> None:
    sms = SlowSms(fail="p-2-1")
    with ThreadPoolExecutor(8) as pool:
        batch = deliverer(tmp_path, defaults_dir, sms, pool)
        with pytest.raises(OSError, match="p-2-1"):
            batch.deliver_all([job("p-1"), job("p-2"), job("p-3")])
    assert {r for r, _, _ in sms.runs} == {"p-1-1", "p-2-1", "p-3-1"}
    ledger = DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db")
    states = {
        rid: row.state
        for rid in ("p-1-1", "p-2-1", "p-3-1")
        if (row := ledger.get(rid, Channel.SMS))
    }
    assert states == {
        "p-1-1": LedgerState.SENT,
        "p-2-1": LedgerState.SENDING,  # the next delivery of it records unknown, never resends
        "p-3-1": LedgerState.SENT,
    }
