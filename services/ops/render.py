"""How one record is shown: a masked one-line summary for people, a masked dict for scripts."""

from __future__ import annotations

from typing import Any

from services.ops.records import Decoded, Record
from services.shared.events import (
    BookingEvent,
    DeadLetter,
    Frozen,
    NotificationStatus,
    ReminderDue,
)
from services.shared.masking import mask_text, mask_value


def summary(event: Frozen) -> str:
    """One masked line that says what the event is about."""
    if isinstance(event, BookingEvent):
        return _booking(event)
    if isinstance(event, ReminderDue):
        channels = ",".join(c.value for c in event.channels)
        return (
            f"reminder.due {event.milestone} booking {event.clinic_id}/{event.booking_id} "
            f"via {channels}, due {event.due_at:%Y-%m-%d %H:%MZ} ({event.reminder_id})"
        )
    if isinstance(event, NotificationStatus):
        reason = f": {event.reason}" if event.reason else ""
        return mask_text(
            f"{event.state.value} {event.channel.value} {event.milestone} booking "
            f"{event.clinic_id}/{event.booking_id}{reason}"
        )
    if isinstance(event, DeadLetter):
        return mask_text(
            f"dead letter from {event.service}, {event.topic}/{event.partition}/{event.offset}: "
            f"{event.reason}"
        )
    return mask_text(event.model_dump_json())


def _booking(event: BookingEvent) -> str:
    data = event.data
    contact = ", ".join(c for c in (data.patient.phone, data.patient.email) if c)
    return mask_text(
        f"{event.type.value} {data.clinic_id}/{data.booking_id} patient {data.patient.id} "
        f"({contact or 'no contact'}) {data.treatment} {data.kind.value} "
        f"{data.start:%Y-%m-%d %H:%MZ} {data.status.value} v{data.schedule_version}"
    )


def header(record: Record) -> str:
    """Where and when: ``2026-11-30 10:00:00Z due/2/17 key dr-jenny:p-42``."""
    when = f"{record.timestamp:%Y-%m-%d %H:%M:%SZ}" if record.timestamp else "(no time)"
    key = mask_text(record.key_text) if record.key_text is not None else "-"
    return f"{when} {record.topic}/{record.partition}/{record.offset} key {key}"


def as_dict(record: Record, decoded: Decoded) -> dict[str, Any]:
    """The record for ``--json``: coordinates, masked key and event, or the error and raw text."""
    out: dict[str, Any] = {
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": record.timestamp.isoformat() if record.timestamp else None,
        "key": mask_text(record.key_text) if record.key_text is not None else None,
    }
    if decoded.event is not None:
        out["event"] = mask_value(decoded.event.model_dump(mode="json"))
    else:
        out["error"] = decoded.error
        out["raw"] = mask_text((record.value or b"").decode(errors="replace"))
    return out
