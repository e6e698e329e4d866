"""What the notifier texts back to a keyword, in the patient's language (English or French)."""

from __future__ import annotations

from services.shared.clinics import ClinicInfo

FRENCH_KEYWORDS = frozenset({"ARRET", "AIDE"})


def help_text(clinic: ClinicInfo | None, french: bool) -> str:
    """The answer to HELP: who texts, how to stop, whom to call."""
    name = clinic.name if clinic else "Your clinic"
    phone = clinic.phone if clinic else None
    if french:
        call = f" Questions : {phone}." if phone else ""
        return f"{name} : rappels de rendez-vous. ARRET pour ne plus recevoir.{call}"
    call = f" Questions: call {phone}." if phone else ""
    return f"{name}: appointment reminders. Reply STOP to opt out, START to opt in.{call}"


def confirmed_text(clinic: ClinicInfo, french: bool) -> str:
    """The answer to a confirmation taken."""
    if french:
        return f"Merci, votre rendez-vous est confirmé. {clinic.name}"
    return f"Thank you, your appointment is confirmed. {clinic.name}"


def rearrange_text(clinic: ClinicInfo, french: bool) -> str:
    """The answer to a request to rearrange: a person will be in touch."""
    if french:
        call = f" ou appelez le {clinic.phone}" if clinic.phone else ""
        return f"Merci, {clinic.name} vous recontactera pour changer de date{call}."
    call = f", or call {clinic.phone}" if clinic.phone else ""
    return f"Thank you, {clinic.name} will be in touch to find a new time{call}."


def is_french(locale: str | None, keyword: str | None = None) -> bool:
    """Answer in French for a French patient, or to a French keyword."""
    return (locale or "").startswith("fr") or keyword in FRENCH_KEYWORDS
