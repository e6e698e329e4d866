"""Consent: no SMS without SMS consent and a phone that takes texts, no email without
consent and an address."""

from __future__ import annotations

from dataclasses import dataclass

from services.shared.events import Channel, Patient
from services.shared.phones import why_no_texts


@dataclass(frozen=True)
class Recipient:
    """Where a message may go, or why it may not (``address`` None, ``reason`` set)."""

    address: str | None
    reason: str | None = None


def recipient(patient: Patient, channel: Channel) -> Recipient:
    """The patient's address on ``channel`` if they agreed to be contacted there."""
    if channel is Channel.SMS:
        if not patient.consent.sms:
            return Recipient(None, "no SMS consent")
        if not patient.phone:
            return Recipient(None, "no phone number")
        if kind := why_no_texts(patient.phone):
            return Recipient(None, f"the phone number is {kind}: it cannot take texts")
        return Recipient(patient.phone)
    if not patient.consent.email:
        return Recipient(None, "no email consent")
    if not patient.email:
        return Recipient(None, "no email address")
    return Recipient(patient.email)
