"""What a template sees: the patient, the clinic, the appointment and the milestone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.shared.clinics import ClinicInfo
from services.shared.events import ReminderDue


def template_context(reminder: ReminderDue, clinic: ClinicInfo) -> dict[str, Any]:
    """The variables given to every template; datetimes are aware, in the patient's zone.

    ``reply`` holds the words the clinic's patients of this language reply with to
    confirm or rearrange (``C`` and ``R`` unless the clinics file says otherwise).

    Only what the wording needs is exposed (no contact details of the patient,
    no consent flags): clinics edit templates, and a template is not a query tool.
    """
    zone = ZoneInfo(reminder.patient.timezone)
    start = reminder.appointment_start.astimezone(zone)
    words = clinic.reply_words(reminder.patient.locale)
    return {
        "patient": {"first_name": reminder.patient.first_name},
        "clinic": {"name": clinic.name, "phone": clinic.phone or "", "sign_off": clinic.sign_off},
        "appointment": {
            "start": start,
            "end": start + timedelta(minutes=reminder.duration_minutes),
            "kind": reminder.kind.value,
            "treatment": reminder.treatment,
            "session_number": reminder.session_number,
            "sessions_planned": reminder.sessions_planned,
            "duration_minutes": reminder.duration_minutes,
        },
        "reminder": {"milestone": reminder.milestone, "due": reminder.due_at.astimezone(zone)},
        "reply": {"confirm": words.confirm[0], "rearrange": words.rearrange[0]},
        "ctx": dict(reminder.context),
        "_zone": reminder.patient.timezone,
        "_locale": reminder.patient.locale,
    }


def locale_chain(locale: str) -> list[str]:
    """``fr-FR`` → ``[fr-FR, fr, en-GB]``: the order in which wording is looked for."""
    chain = [locale]
    language = locale.split("-")[0]
    if language != locale:
        chain.append(language)
    if "en-GB" not in chain:
        chain.append("en-GB")
    return chain
