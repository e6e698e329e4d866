"""What a clinic says about its FHIR server's appointments: which codings are which
treatment, the treatment when none matches, its time zone, and what its patients agreed to.

Given on the command line (``--treatment``, ``--map``, ``--consent``) or in the clinic's
FHIR settings; the appointments themselves say the rest (:mod:`mapping`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from services.shared.events import AppointmentKind, Channel


@dataclass(frozen=True)
class Treatment:
    """Our treatment and kind of appointment for one of the server's codings."""

    treatment: str
    kind: AppointmentKind = AppointmentKind.TREATMENT

    @classmethod
    def parse(cls, text: str) -> Treatment:
        """``microsclerotherapy`` or ``microsclerotherapy/consultation``; ValueError if the kind
        is not one of ours."""
        treatment, _, kind = text.strip().partition("/")
        if not treatment:
            raise ValueError(
                f"{text!r}: give a treatment, optionally /consultation|treatment|review"
            )
        try:
            return cls(treatment, AppointmentKind(kind) if kind else AppointmentKind.TREATMENT)
        except ValueError:
            kinds = ", ".join(k.value for k in AppointmentKind)
            raise ValueError(f"{text!r}: the kind after '/' is one of {kinds}") from None


@dataclass(frozen=True)
class FhirRules:
    """How one clinic's appointments become bookings.

    ``codes`` keys are ``system|code``, a bare ``code``, or the coding's or concept's
    text (matched ignoring case), looked up in ``serviceType`` then ``appointmentType``.
    """

    clinic_id: str
    codes: dict[str, Treatment] = field(default_factory=dict)
    default: Treatment | None = None
    timezone: str = "Europe/London"
    consent: frozenset[Channel] = frozenset({Channel.SMS, Channel.EMAIL})

    @staticmethod
    def parse_consent(text: str) -> frozenset[Channel]:
        """``sms,email``, ``sms``, ``email`` or ``none``; ValueError otherwise."""
        words = {w.strip().lower() for w in text.split(",") if w.strip()}
        if words == {"none"}:
            return frozenset()
        try:
            return frozenset(Channel(w) for w in words)
        except ValueError:
            raise ValueError(f"consent {text!r}: a list of sms, email, or none") from None
