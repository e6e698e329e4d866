"""Consent: no SMS without SMS consent and a phone, no email without consent and an address."""

from __future__ import annotations

from dataclasses import dataclass

from services.shared.events import Channel, Patient


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
        return Recipient(patient.phone)
    if not patient.consent.email:
        return Recipient(None, "no email consent")
    if not patient.email:
        return Recipient(None, "no email address")
    return Recipient(patient.email)
