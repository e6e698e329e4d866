"""Records as read from a topic, and their decoding with the shared event models."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.shared.erasure import ErasureRecord, PatientErased
from services.shared.events import (
    BookingEvent,
    DeadLetter,
    Frozen,
    InvalidEvent,
    NotificationStatus,
    ReminderDue,
    decode,
)
from services.shared.workers import WorkerRegistered


@dataclass(frozen=True)
class Record:
    """One record of one topic, as the broker gave it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None

    @property
    def timestamp(self) -> datetime | None:
        if self.timestamp_ms is None or self.timestamp_ms < 0:
            return None
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    @property
    def key_text(self) -> str | None:
        return None if self.key is None else self.key.decode(errors="replace")

    @property
    def coordinates(self) -> str:
        return f"{self.topic}/{self.partition}/{self.offset}"


@dataclass(frozen=True)
class Decoded:
    """A record's event, or why it is not one (never both)."""

    event: Frozen | None
    error: str | None = None


def model_for(value: bytes) -> type[Frozen] | None:
    """The shared model a payload claims to be, from its ``type`` field."""
    try:
        body = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    kind: Any = body.get("type") if isinstance(body, dict) else None
    if not isinstance(kind, str):
        return None
    if kind.startswith("booking."):
        return BookingEvent
    models: dict[str, type[Frozen]] = {
        "reminder.due": ReminderDue,
        "notification.status": NotificationStatus,
        "dead_letter": DeadLetter,
        "patient.erased": PatientErased,
        "erasure.recorded": ErasureRecord,
        "worker.registered": WorkerRegistered,
    }
    return models.get(kind)


def decode_record(record: Record) -> Decoded:
    """Decode ``record`` with the model its payload names; never raises."""
    if not record.value:
        return Decoded(None, "empty record")
    model = model_for(record.value)
    if model is None:
        return Decoded(None, "not a platform event (no known 'type' field)")
    try:
        return Decoded(decode(model, record.value))
    except InvalidEvent as exc:
        return Decoded(None, f"invalid {model.__name__}: {exc}")
