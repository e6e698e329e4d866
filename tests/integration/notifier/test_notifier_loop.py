"""The notifier on the real broker: due reminder in, JSON line and status out, once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from kafka import KafkaConsumer
from kafka.errors import KafkaConnectionError

from services.notifier.settings import NotifierSettings
from services.shared.clock import ManualClock
from services.shared.events import (
    Channel,
    Consent,
    DeadLetter,
    DeliveryState,
    NotificationStatus,
    decode,
    encode,
)
from tests.support.kafka import TopicReader, produce
from tests.support.notifier_loop import NOW, loop_running, sms_lines
from tests.support.reminders import patient, reminder

pytestmark = pytest.mark.integration


def test_a_due_reminder_becomes_one_text_and_a_status(
    settings: NotifierSettings, running: ManualClock, statuses: TopicReader
) -> None:
    due = reminder(channels=(Channel.SMS,))
    produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
    [raw] = statuses.wait_for(1)
    status = decode(NotificationStatus, raw)
    assert (status.reminder_id, status.channel, status.state) == (
        due.reminder_id,
        Channel.SMS,
        DeliveryState.SENT,
    )
    [line] = sms_lines(settings)
    assert line["body"] == "Hi Jane, see you Tue 1 Dec." and line["to"] == "+447700900123"
    assert line["sent_at"] == NOW.isoformat()

    produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
    again = decode(NotificationStatus, statuses.wait_for(2)[1])
    assert again == status
    assert len(sms_lines(settings)) == 1


def test_no_consent_is_a_skipped_status_and_no_text(
    settings: NotifierSettings, running: ManualClock, statuses: TopicReader
) -> None:
    due = reminder(patient=patient(consent=Consent(sms=False, email=False)))
    produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
    found = [decode(NotificationStatus, raw) for raw in statuses.wait_for(2)]
    assert {(s.channel, s.state, s.reason) for s in found} == {
        (Channel.SMS, DeliveryState.SKIPPED, "no SMS consent"),
        (Channel.EMAIL, DeliveryState.SKIPPED, "no email consent"),
    }
    assert sms_lines(settings) == []


def test_a_malformed_record_is_dead_lettered_and_the_stream_goes_on(
    settings: NotifierSettings, running: ManualClock, statuses: TopicReader
) -> None:
    dlq = TopicReader(settings.bootstrap_servers, settings.topics.notifications_dlq)
    produce(
        settings.bootstrap_servers,
        settings.topics.due,
        "dr-jenny:p-42",
        b'{"type": "reminder.due", "reminder_id": "r-1"}',
    )
    due = reminder(channels=(Channel.SMS,))
    produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
    try:
        letter = decode(DeadLetter, dlq.wait_for(1)[0])
    finally:
        dlq.close()
    assert letter.service == "notifier" and letter.topic == settings.topics.due
    assert "patient: Field required" in letter.reason and letter.key == "dr-jenny:p-42"
    assert decode(NotificationStatus, statuses.wait_for(1)[0]).state is DeliveryState.SENT


def partition_of(key: str, partitions: int = 4) -> int:
    from kafka.partitioner.default import murmur2

    hashed: int = murmur2(key.encode())
    return (hashed & 0x7FFFFFFF) % partitions


def test_quiet_hours_hold_one_partition_while_others_go_on(
    settings: NotifierSettings, running: ManualClock, statuses: TopicReader
) -> None:
    london = reminder(channels=(Channel.SMS,))
    night_id = next(
        f"p-{n}" for n in range(100) if partition_of(f"dr-jenny:p-{n}") != partition_of(london.key)
    )
    auckland = reminder(
        reminder_id="bk-2002:pre-treatment-24h:1",
        channels=(Channel.SMS,),
        patient=patient(id=night_id, timezone="Pacific/Auckland"),
    )
    produce(settings.bootstrap_servers, settings.topics.due, auckland.key, encode(auckland))
    produce(settings.bootstrap_servers, settings.topics.due, london.key, encode(london))
    [first] = statuses.wait_for(1)
    assert decode(NotificationStatus, first).reminder_id == london.reminder_id
    with pytest.raises(AssertionError):
        statuses.wait_for(2, timeout=1.0)
    running.advance(timedelta(hours=9, minutes=1))
    second = decode(NotificationStatus, statuses.wait_for(2)[1])
    assert (second.reminder_id, second.state) == (auckland.reminder_id, DeliveryState.SENT)
    assert [line["reminder_id"] for line in sms_lines(settings)] == [
        london.reminder_id,
        auckland.reminder_id,
    ]


def test_when_quiet_hours_end_every_held_partition_is_delivered(
    settings: NotifierSettings, clock: ManualClock, statuses: TopicReader
) -> None:
    """Every partition paused part-way through what was fetched: each is fetched again.

    kafka-python parks records fetched ahead for a paused partition; without
    ``services.shared.kafka_patches`` a resumed partition whose parked records
    were already read in part was never fetched again (its reminders waited forever).
    """
    night = [
        reminder(
            reminder_id=f"bk-3{n:03d}:pre-treatment-24h:1",
            channels=(Channel.SMS,),
            patient=patient(id=f"p-night-{n}", timezone="Pacific/Auckland"),
        )
        for n in range(40)
    ]
    assert {partition_of(r.key) for r in night} == {0, 1, 2, 3}
    for due in night:
        produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
    with loop_running(settings, clock, max_poll_records=3):
        with pytest.raises(AssertionError):
            statuses.wait_for(1, timeout=2.0)
        clock.advance(timedelta(hours=9, minutes=1))
        sent = {decode(NotificationStatus, r).reminder_id for r in statuses.wait_for(len(night))}
    assert sent == {r.reminder_id for r in night}


def test_a_connection_lost_in_a_poll_is_polled_again_not_the_end_of_the_notifier(
    settings: NotifierSettings,
    clock: ManualClock,
    statuses: TopicReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """kafka-python lets a lost connection out of ``poll`` while it looks for the group's
    coordinator (an Apache Kafka node had died); the loop used to end there."""
    poll = KafkaConsumer.poll
    failed: list[bool] = []

    def poll_failing_once(self: KafkaConsumer, *args: Any, **kwargs: Any) -> Any:
        if self.config["group_id"] == settings.consumer_group and not failed:
            failed.append(True)
            raise KafkaConnectionError("111 ECONNREFUSED")
        return poll(self, *args, **kwargs)

    monkeypatch.setattr(KafkaConsumer, "poll", poll_failing_once)
    with loop_running(settings, clock):
        due = reminder(channels=(Channel.SMS,))
        produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
        [raw] = statuses.wait_for(1)
    assert failed and decode(NotificationStatus, raw).state is DeliveryState.SENT
