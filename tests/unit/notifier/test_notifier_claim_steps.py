"""A batch is claimed a step at a time, not all at once.

A claim a killed notifier leaves behind is never sent (``unknown``); so only the
deliveries about to be handed over may be claimed: the step being handed over
and, with a pool, the one claimed behind it.
"""

from __future__ import annotations

import io
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notifier.delivery import deliverer as delivery
from services.notifier.delivery.deliverer import FIRST_STEP, Deliverer
from services.notifier.delivery.hand_over import Senders
from services.notifier.delivery.jobs import Job
from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.delivery.retry import Backoff, RetryPolicy
from services.notifier.messages.rendering import TemplateRenderer
from services.notifier.senders.base import SendResult
from services.notifier.senders.local import LocalEmailSender
from services.shared.clinics import ClinicDirectory
from services.shared.clock import ManualClock
from services.shared.events import Channel, DeliveryState, ReminderDue
from tests.support.reminders import patient, reminder

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class PacedSms:
    """Answers after ``takes`` seconds, as behind a rate limit; counts the claims open then
    and notes when each message was handed over."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        takes: float,
        slow: str = "",
        quick: frozenset[str] = frozenset(),
    ) -> None:
        self.claimed_at_send: list[int] = []
        self.runs: dict[str, tuple[float, float]] = {}
        self._ledger = ledger
        self._takes = takes
        self._slow = slow
        self._quick = quick
        self._lock = threading.Lock()

    def send(self, to: str, body: str, due: ReminderDue) -> SendResult:
        began = time.monotonic()
        claimed = LedgerReads(self._ledger.engine).count_by_state().get("sending", 0)
        if due.reminder_id == self._slow:
            time.sleep(self._takes * 10)
        else:
            time.sleep(self._takes / (2 if due.reminder_id in self._quick else 1))
        with self._lock:
            self.claimed_at_send.append(claimed)
            self.runs[due.reminder_id] = (began, time.monotonic())
        return SendResult(provider_id=f"SM-{due.reminder_id}")


def job(i: int, patient_id: str | None = None) -> Job:
    made = reminder(
        reminder_id=f"r-{i}", patient=patient(id=patient_id or f"p-{i}"), channels=(Channel.SMS,)
    )
    return Job(made, Channel.SMS)


def deliverer(
    ledger: DeliveryLedger,
    sms: PacedSms,
    tmp_path: Path,
    defaults: Path,
    pool: ThreadPoolExecutor | None = None,
    width: int = 1,
) -> Deliverer:
    clock = ManualClock(NOW)
    return Deliverer(
        ledger,
        TemplateRenderer(None, ClinicDirectory(), defaults_dir=defaults),
        Senders(sms=sms, email=LocalEmailSender(tmp_path, clock, io.StringIO())),
        clock,
        RetryPolicy(Backoff(0.5, 8.0, random.Random(7))),
        pool=pool,
        side_by_side=width,
    )


def test_a_slow_provider_has_only_a_step_of_the_batch_claimed_at_a_time(
    tmp_path: Path, defaults_dir: Path
) -> None:
    ledger = DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db")
    sms = PacedSms(ledger, takes=0.03)  # 8 take a quarter of a second: steps stay at 8
    outcomes = deliverer(ledger, sms, tmp_path, defaults_dir).deliver_all(
        [job(i) for i in range(40)]
    )
    ledger.close()
    assert {o.status.state for o in outcomes} == {DeliveryState.SENT}
    assert max(sms.claimed_at_send) <= FIRST_STEP


def test_one_step_gone_out_in_a_burst_does_not_double_the_next(
    tmp_path: Path, defaults_dir: Path
) -> None:
    ledger = DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db")
    burst = frozenset(f"r-{i}" for i in range(24, 32))  # the fourth step, twice as fast
    sms = PacedSms(ledger, takes=0.03, quick=burst)
    deliverer(ledger, sms, tmp_path, defaults_dir).deliver_all([job(i) for i in range(64)])
    ledger.close()
    # Sized from that step alone, the next would be 16; from the pace so far, 12.
    assert max(sms.claimed_at_send) <= FIRST_STEP * 3 // 2


def test_a_fast_provider_has_the_batch_claimed_in_few_steps_and_the_next_batch_in_one(
    tmp_path: Path, defaults_dir: Path
) -> None:
    ledger = DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db")
    sms = PacedSms(ledger, takes=0.0)
    delivering = deliverer(ledger, sms, tmp_path, defaults_dir)
    delivering.deliver_all([job(i) for i in range(200)])
    assert max(sms.claimed_at_send) > 4 * FIRST_STEP  # the steps grew
    sms.claimed_at_send.clear()
    delivering.deliver_all([job(i) for i in range(200, 300)])
    ledger.close()
    assert sms.claimed_at_send[0] == 100  # and stayed grown


def test_with_a_pool_the_next_step_is_claimed_while_one_is_handed_over(
    tmp_path: Path, defaults_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "CLAIM_AHEAD_SECONDS", 0.02)  # steps stay at 8
    ledger = DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db")
    sms = PacedSms(ledger, takes=0.03)
    with ThreadPoolExecutor(4) as pool:
        outcomes = deliverer(ledger, sms, tmp_path, defaults_dir, pool, 4).deliver_all(
            [job(i) for i in range(40)]
        )
    ledger.close()
    assert {o.status.state for o in outcomes} == {DeliveryState.SENT}
    assert max(sms.claimed_at_send) <= 2 * FIRST_STEP
    assert max(sms.claimed_at_send) > FIRST_STEP  # the pool had the next step waiting


def test_a_patients_messages_in_two_steps_go_in_order(
    tmp_path: Path, defaults_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "CLAIM_AHEAD_SECONDS", 0.02)
    ledger = DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db")
    sms = PacedSms(ledger, takes=0.02, slow="r-0")  # her first message takes 0.2 s
    batch = [job(0, "p-jane")] + [job(i) for i in range(1, 12)] + [job(12, "p-jane")]
    with ThreadPoolExecutor(4) as pool:
        deliverer(ledger, sms, tmp_path, defaults_dir, pool, 4).deliver_all(batch)
    ledger.close()
    assert sms.runs["r-12"][0] >= sms.runs["r-0"][1]
