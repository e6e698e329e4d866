"""The notifier on the real broker reads ``patient.erased`` from the bookings topic: the
patient's texts leave the sink, and a reminder of theirs still on its way is dropped."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

import pytest

from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.settings import NotifierSettings
from services.shared.clock import ManualClock
from services.shared.erasure import ERASED, ErasureRecord, PatientErased
from services.shared.events import BookingEvent, BookingEventType, Channel, decode, encode
from tests.support.kafka import TopicReader, produce
from tests.support.notifier_loop import NOW, sms_lines
from tests.support.reminders import patient, reminder
from tests.unit.reminders.factories import booking

pytestmark = pytest.mark.integration

NIGHT = patient(id="p-nz", timezone="Pacific/Auckland")  # 23:00 there at NOW


def booked(booking_id: str, who: object) -> BookingEvent:
    made = booking(booking_id, who.id, patient=who)  # type: ignore[attr-defined]
    return BookingEvent(
        type=BookingEventType.CREATED, occurred_at=NOW, clinic_id="dr-jenny", data=made
    )


def test_an_erased_patients_texts_go_and_their_held_reminder_is_dropped(
    settings: NotifierSettings,
    running: ManualClock,
    statuses: TopicReader,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    bootstrap, topics = settings.bootstrap_servers, settings.topics
    jane = reminder(channels=(Channel.SMS,))
    held = reminder(
        reminder_id="held-1", booking_id="bk-nz", channels=(Channel.SMS,), patient=NIGHT
    )
    for event in (booked("bk-1001", patient()), booked("bk-nz", NIGHT)):
        produce(bootstrap, topics.bookings, event.key, encode(event))
    for due in (jane, held):
        produce(bootstrap, topics.due, due.key, encode(due))
    statuses.wait_for(1)
    assert [line["to"] for line in sms_lines(settings)] == ["+447700900123"]

    erasures = TopicReader(bootstrap, topics.erasures)
    try:
        for who in ("p-42", "p-nz"):
            erased = PatientErased(clinic_id="dr-jenny", patient_id=who, erased_at=NOW)
            produce(bootstrap, topics.bookings, erased.key, encode(erased))
        records = [decode(ErasureRecord, raw) for raw in erasures.wait_for(2)]
    finally:
        erasures.close()
    assert {r.service for r in records} == {"notifier"}
    assert sum(r.counts["sms_lines"] for r in records) == 1
    assert sms_lines(settings) == []

    running.advance(timedelta(hours=9, minutes=1))  # morning in Auckland: the held one is read
    deadline = time.monotonic() + 10
    while "reminder held-1 dropped: patient erased" not in caplog.text:
        assert time.monotonic() < deadline, caplog.text[-3000:]
        time.sleep(0.1)
    with pytest.raises(AssertionError):
        statuses.wait_for(2, timeout=1.0)
    assert sms_lines(settings) == []

    later = running.now()  # made after the erasure: an old booking of hers planned again
    again = reminder(reminder_id="again-1", channels=(Channel.SMS,), emitted_at=later)
    back = reminder(  # she came back: a new booking
        reminder_id="new-1", booking_id="bk-new", channels=(Channel.SMS,), emitted_at=later
    )
    for due in (again, back):
        produce(bootstrap, topics.due, due.key, encode(due))
    statuses.wait_for(2)
    assert [(line["booking_id"], line["to"]) for line in sms_lines(settings)] == [
        ("bk-new", "+447700900123")
    ]
    assert "reminder again-1 dropped: patient erased" in caplog.text
    ledger = DeliveryLedger(settings.database_url)
    try:
        dropped = ledger.get("held-1", Channel.SMS)
        assert dropped is not None and (dropped.state, dropped.reason) == ("skipped", ERASED)
        assert LedgerReads(ledger.engine).count_by_state() == {"sent": 2, "skipped": 2}
    finally:
        ledger.close()
