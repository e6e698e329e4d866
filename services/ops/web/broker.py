"""What the page reads from the broker: due reminders and dead letters, outside any group."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.ops.dlq import Letter, list_letters
from services.ops.erasures import erased_patients
from services.ops.kafka_io import read_all
from services.ops.web.shaping import DueReminder
from services.shared.erasure import ErasureKeys
from services.shared.events import InvalidEvent, ReminderDue, decode
from services.shared.kafka_access import KafkaAccess
from services.shared.topics import Topics


@dataclass(frozen=True)
class DeadLetterRow:
    """One dead letter as it is on the topic, unmasked: the views mask it (``gather``)."""

    id: str
    queue: str
    service: str
    topic: str
    key: str | None
    reason: str
    occurred_at: datetime | None
    payload: str


def due_reminders(kafka: KafkaAccess | str, topics: Topics) -> list[DueReminder]:
    """Every reminder now on the due topic; undecodable records are left out.

    Blocks while reading the topic to its end; raises ``BrokerUnavailable`` or
    ``TopicNotFound``.
    """
    found: list[DueReminder] = []
    for record in read_all(kafka, topics.due):
        try:
            due = decode(ReminderDue, record.value or b"")
        except InvalidEvent:
            continue
        found.append(
            DueReminder(
                due.reminder_id,
                due.clinic_id,
                due.booking_id,
                due.milestone,
                tuple(c.value for c in due.channels),
                due.due_at,
            )
        )
    return found


def dead_letters(
    kafka: KafkaAccess | str, topics: Topics, keys: ErasureKeys | None = None
) -> list[DeadLetterRow]:
    """Both dead-letter topics, newest first, less the letters of patients erased since (with
    ``keys``); raises ``BrokerUnavailable`` or ``TopicNotFound``."""
    erased = erased_patients(kafka, topics.erasures, keys) if keys else None
    rows = [_row(letter) for letter in list_letters(kafka, topics, erased=erased)]
    return sorted(rows, key=lambda r: (r.occurred_at is not None, r.occurred_at), reverse=True)


def _row(letter: Letter) -> DeadLetterRow:
    queue = letter.id.split(":", 1)[0]
    dead = letter.letter
    if dead is None:
        raw = (letter.record.value or b"").decode(errors="replace")
        return DeadLetterRow(
            letter.id,
            queue,
            "?",
            letter.record.topic,
            letter.record.key_text,
            letter.error or "unreadable",
            letter.record.timestamp,
            raw,
        )
    return DeadLetterRow(
        letter.id,
        queue,
        dead.service,
        dead.topic,
        dead.key,
        dead.reason,
        dead.occurred_at,
        dead.payload,
    )
