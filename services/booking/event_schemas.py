"""The JSON Schema of every event, for clinics that produce to or read from Kafka directly.

``python -m services.booking.event_schemas [folder]`` writes them (default
``docs/schemas``); a test checks that the files there equal what this makes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from services.shared.erasure import ErasureRecord, PatientErased
from services.shared.events import (
    BookingEvent,
    ConsentChanged,
    DeadLetter,
    Frozen,
    NotificationStatus,
    PatientReplied,
    ReminderDue,
)

EVENTS: dict[str, type[Frozen]] = {
    "booking-event.v1.json": BookingEvent,
    "reminder-due.v1.json": ReminderDue,
    "notification-status.v1.json": NotificationStatus,
    "dead-letter.v1.json": DeadLetter,
    "consent-changed.v1.json": ConsentChanged,
    "patient-replied.v1.json": PatientReplied,
    "patient-erased.v1.json": PatientErased,
    "erasure-recorded.v1.json": ErasureRecord,
}
DEFAULT_FOLDER = Path("docs/schemas")


def schema_of(model: type[Frozen], name: str) -> dict[str, Any]:
    """The schema of ``model`` as it appears on the wire (serialised JSON)."""
    schema = model.model_json_schema(mode="serialization")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://clinic-reminders.example/schemas/{name}",
        **schema,
    }


def rendered() -> dict[str, str]:
    """File name to file text, for every event."""
    return {
        name: json.dumps(schema_of(model, name), indent=2, sort_keys=True) + "\n"
        for name, model in EVENTS.items()
    }


def write(folder: Path = DEFAULT_FOLDER) -> list[Path]:
    """Write every schema into ``folder``; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in rendered().items():
        (folder / name).write_text(text, encoding="utf-8")
        written.append(folder / name)
    return written


if __name__ == "__main__":
    for path in write(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_FOLDER):
        print(path)
