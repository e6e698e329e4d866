"""Sample reminders for checking and previewing templates without a real booking."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.shared.events import Channel, Consent, Patient, ReminderDue

CTX_NAME = re.compile(r"\bctx\.(\w+)")
SAMPLE_START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
ZONES = {"fr": "Europe/Paris", "en": "Europe/London"}


def template_ids(root: Path) -> list[str]:
    """Every template id with at least one file under ``root`` (any locale, any clinic)."""
    return sorted({p.name.split(".")[0] for p in root.rglob("*.j2") if not p.name.startswith("_")})


def sample_context(root: Path, template: str) -> dict[str, str | int | float | bool | None]:
    """A value for each ``ctx.*`` the files name: a date for ``*_earliest``/``*_latest``."""
    names = {m for p in root.rglob(f"{template}.*.j2") for m in CTX_NAME.findall(p.read_text())}
    values: dict[str, str | int | float | bool | None] = {}
    for name in sorted(names):
        if name.endswith(("_earliest", "_latest")):
            values[name] = (SAMPLE_START + timedelta(days=14)).date().isoformat()
        elif name == "maintenance":
            values[name] = "annual"
        else:
            values[name] = 3
    return values


def sample_reminder(
    template: str, locale: str, clinic_id: str, context: dict[str, str | int | float | bool | None]
) -> ReminderDue:
    """Jane's first of three treatments, on Tuesday 1 December 2026 at 10:00 UTC."""
    patient = Patient(
        id="p-sample",
        first_name="Jane",
        phone="+447700900123",
        email="jane@example.com",
        locale=locale,
        timezone=ZONES.get(locale.split("-")[0], "Europe/London"),
        consent=Consent(sms=True, email=True),
    )
    return ReminderDue(
        reminder_id=f"sample:{template}",
        clinic_id=clinic_id,
        booking_id="bk-sample",
        patient=patient,
        treatment="microsclerotherapy",
        kind="treatment",
        milestone=template,
        template=template,
        channels=(Channel.SMS, Channel.EMAIL),
        due_at=SAMPLE_START - timedelta(days=1),
        appointment_start=SAMPLE_START,
        session_number=1,
        sessions_planned=3,
        context=context,
        emitted_at=SAMPLE_START,
    )
