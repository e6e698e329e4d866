"""A day of platform history written through the real services' own code.

Bookings go through the booking service into a SQLite booking store, the
reminders are planned and emitted by the worker's real scheduler and put on
the real due topic, and outcomes are recorded in the real delivery ledger.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaProducer

from services.booking.service import BookingService
from services.booking.store.store import BookingStore
from services.notifier.delivery.ledger import DeliveryLedger, LedgerState
from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Scheduler
from services.shared.clock import ManualClock
from services.shared.events import BookingEvent, Channel, DeadLetter, ReminderDue, encode
from services.shared.topics import Topics
from tests.support.reminders import reminder
from tests.unit.reminders.factories import fire

NOW = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)
PHONE = "+447700900123"
EMAIL = "jane.doe@example.com"
BOOKINGS = (("dr-jenny", "bk-7001"), ("leeds-vein", "bk-8100"))
BOUNCE = f"550 5.1.1 mailbox {EMAIL} does not exist"


@dataclass
class History:
    """What was written, for the test to look for on the page."""

    patients: MutableMapping[str, Any] = field(default_factory=dict)
    due: list[ReminderDue] = field(default_factory=list)


def patient_payload(patient_id: str) -> dict[str, Any]:
    return {
        "id": patient_id,
        "first_name": "Jane",
        "phone": PHONE,
        "email": EMAIL,
        "consent": {"sms": True, "email": True},
    }


def book(booking_url: str, topics: Topics) -> list[BookingEvent]:
    """Two bookings at two clinics, the first moved once; returns their stored events."""
    clock = ManualClock(NOW - timedelta(days=3))
    store = BookingStore(booking_url)
    service = BookingService(store, clock, topics.bookings, {"microsclerotherapy"})
    starts = (NOW + timedelta(days=2), NOW + timedelta(hours=20))
    for (clinic, booking_id), start in zip(BOOKINGS, starts, strict=True):
        service.create(
            {
                "clinic_id": clinic,
                "booking_id": booking_id,
                "patient": patient_payload(f"p-{booking_id[3:]}"),
                "treatment": "microsclerotherapy",
                "kind": "treatment",
                "sessions_planned": 3,
                "start": start.isoformat(),
            }
        )
    clock.advance(timedelta(hours=6))
    service.reschedule("dr-jenny", "bk-7001", NOW + timedelta(days=2, hours=1))
    events = [e for clinic, bid in BOOKINGS for e in store.history(clinic, bid)]
    store.close()
    return events


def plan_and_emit(events: list[BookingEvent], history: History) -> None:
    """Run the worker's scheduler over the booking events and take what is due by now."""
    scheduler = Scheduler(history.patients, ProtocolRegistry.builtin(), lambda _: ClinicPolicy())
    for event in sorted(events, key=lambda e: e.occurred_at):
        scheduler.apply(event, 0, event.occurred_at)
    history.due.extend(fire(scheduler, 0, NOW).emitted)


def background(clinics: tuple[str, ...] = ("dr-jenny", "leeds-vein")) -> list[ReminderDue]:
    """A day of other patients' reminders, a few an hour, for the chart to show."""
    due = []
    for hour in range(23, 0, -1):
        for n, clinic in enumerate(clinics):
            for k in range((hour * 7 + n * 3) % 4 + (1 if n == 0 else 0)):
                at = NOW - timedelta(hours=hour, minutes=7 * k + 3)
                due.append(
                    reminder(
                        reminder_id=f"bg-{clinic}-{hour}-{k}",
                        clinic_id=clinic,
                        booking_id=f"bk-bg-{hour}{k}",
                        channels=(Channel.SMS,),
                        due_at=at,
                        emitted_at=at,
                    )
                )
    return due


def record_outcomes(ledger_url: str, history: History, extra: list[ReminderDue]) -> None:
    """Outcomes of every due reminder but one channel of the Leeds booking's last reminder."""
    ledger = DeliveryLedger(ledger_url)
    try:
        for n, due in enumerate(extra):
            _settle(ledger, due, Channel.SMS, _background_state(n), due.due_at)
        for due in history.due:
            for channel in due.channels:
                if due.clinic_id == "leeds-vein" and channel is Channel.EMAIL:
                    continue
                state = LedgerState.FAILED if channel is Channel.EMAIL else LedgerState.SENT
                _settle(ledger, due, channel, state, due.due_at + timedelta(minutes=1))
    finally:
        ledger.close()


def _background_state(n: int) -> LedgerState:
    if n % 11 == 5:
        return LedgerState.FAILED
    return LedgerState.SKIPPED if n % 9 == 4 else LedgerState.SENT


def _settle(
    ledger: DeliveryLedger, due: ReminderDue, channel: Channel, state: LedgerState, at: datetime
) -> None:
    if state is LedgerState.SKIPPED:
        ledger.record(due, channel, state, "quiet hours: held past its stale time", at)
        return
    ledger.claim(due, channel, at)
    reason = BOUNCE if state is LedgerState.FAILED else None
    ledger.finish(due.reminder_id, channel, state, at, reason, "SM0001" if reason is None else None)


def publish(bootstrap: str, topics: Topics, due: list[ReminderDue]) -> None:
    """The due reminders on the due topic and two dead letters, one per dead-letter topic."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        for item in due:
            producer.send(topics.due, key=item.key.encode(), value=encode(item))
        for topic, letter in dead_letters(topics):
            producer.send(topic, key=(letter.key or "").encode(), value=encode(letter))
        producer.flush()
    finally:
        producer.close()


def dead_letters(topics: Topics) -> list[tuple[str, DeadLetter]]:
    return [
        (
            topics.notifications_dlq,
            DeadLetter(
                service="notifier",
                topic=topics.due,
                partition=1,
                offset=42,
                key="dr-jenny:p-9001",
                payload=f'{{"type": "reminder.due", "patient": {{"phone": "{PHONE}"}}}}',
                reason=f"Twilio 21610: {PHONE} has replied STOP; not sent",
                occurred_at=NOW - timedelta(hours=2),
            ),
        ),
        (
            topics.bookings_dlq,
            DeadLetter(
                service="reminders",
                topic=topics.bookings,
                partition=0,
                offset=7,
                key="leeds-vein:p-77",
                payload=f'{{"type": "booking.created", "email": "{EMAIL}"}}',
                reason="unknown treatment 'laser-ablation': no protocol covers it",
                occurred_at=NOW - timedelta(hours=5),
            ),
        ),
    ]
