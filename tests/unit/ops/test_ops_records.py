"""Topic names, decoding with the shared models, and how a record is rendered."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.ops.names import resolve_topic, short_name
from services.ops.records import Record, decode_record
from services.ops.render import as_dict, header, summary
from services.shared.events import (
    Channel,
    DeadLetter,
    DeliveryState,
    NotificationStatus,
    ReminderDue,
    encode,
)
from services.shared.topics import Topics
from tests.support.reminders import reminder

WHEN = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TOPICS = Topics("t1.")


def record(value: bytes | None, key: bytes | None = b"dr-jenny:p-42") -> Record:
    return Record("t1.clinic.reminders.due.v1", 2, 17, int(WHEN.timestamp() * 1000), key, value)


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("bookings", "t1.clinic.bookings.v1"),
        ("due", "t1.clinic.reminders.due.v1"),
        ("status", "t1.clinic.notifications.status.v1"),
        ("bookings-dlq", "t1.clinic.bookings.dlq.v1"),
        ("notifications-dlq", "t1.clinic.notifications.dlq.v1"),
        ("some.other.topic", "some.other.topic"),
    ],
)
def test_short_names_resolve_with_the_prefix_and_full_names_pass_through(
    name: str, topic: str
) -> None:
    assert resolve_topic(name, TOPICS) == topic


def test_short_name_is_the_inverse_for_platform_topics_only() -> None:
    assert short_name("t1.clinic.notifications.dlq.v1", TOPICS) == "notifications-dlq"
    assert short_name("clinic.notifications.dlq.v1", TOPICS) is None


def test_an_empty_topic_is_refused_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="TOPIC"):
        resolve_topic(" ", TOPICS)


def test_a_due_reminder_decodes_and_its_summary_masks_nothing_it_does_not_hold() -> None:
    decoded = decode_record(record(encode(reminder())))
    assert isinstance(decoded.event, ReminderDue)
    line = summary(decoded.event)
    assert "pre-treatment-24h" in line and "dr-jenny/bk-1001" in line and "sms,email" in line
    assert "+447700900123" not in line


def test_a_status_summary_masks_a_phone_in_its_reason() -> None:
    status = NotificationStatus(
        reminder_id="r1",
        clinic_id="dr-jenny",
        booking_id="bk-1",
        milestone="m",
        channel=Channel.SMS,
        state=DeliveryState.FAILED,
        reason="21211: +447700900123 is not a valid number",
        occurred_at=WHEN,
    )
    line = summary(status)
    assert line.startswith("failed sms m booking dr-jenny/bk-1: 21211: +4477...123 is not")


def test_the_json_form_masks_the_patient_inside_the_event() -> None:
    rec = record(encode(reminder()))
    out = as_dict(rec, decode_record(rec))
    assert out["event"]["patient"]["phone"] == "+4477...123"
    assert out["event"]["patient"]["email"] == "j***@example.com"
    assert (out["topic"], out["partition"], out["offset"]) == (rec.topic, 2, 17)
    assert out["timestamp"] == WHEN.isoformat()
    json.dumps(out)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (b"", "empty record"),
        (b"not json at all", "not a platform event"),
        (b'{"type": "reminder.due", "reminder_id": "x"}', "invalid ReminderDue: clinic_id"),
    ],
)
def test_undecodable_records_say_why_and_keep_their_raw_text_masked(
    value: bytes, error: str
) -> None:
    decoded = decode_record(record(value))
    assert decoded.event is None
    assert error in (decoded.error or "")
    assert as_dict(record(value + b" +447700900123"), decoded)["raw"].endswith("+4477...123")


def test_a_dead_letter_summary_names_where_it_came_from_and_why() -> None:
    letter = DeadLetter(
        service="notifier",
        topic="clinic.reminders.due.v1",
        partition=1,
        offset=9,
        key="dr-jenny:p-42",
        payload="{}",
        reason="no consent for jane@example.com",
        occurred_at=WHEN,
    )
    line = summary(letter)
    assert line == (
        "dead letter from notifier, clinic.reminders.due.v1/1/9: no consent for j***@example.com"
    )


def test_the_header_gives_time_coordinates_and_key() -> None:
    assert (
        header(record(b"x"))
        == "2026-11-30 10:00:00Z t1.clinic.reminders.due.v1/2/17 key dr-jenny:p-42"
    )
    assert header(record(b"x", key=None)).endswith("key -")
