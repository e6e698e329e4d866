"""One FHIR R4 ``Appointment`` (and the resources it points at) to what the booking service
does with it: book it, record that the patient came or did not, cancel it, or leave it.

The rules, each in one place here, are the table in docs/clinics.md ("FHIR"):

- status: ``booked`` books; ``arrived``, ``checked-in``, ``fulfilled`` attend; ``noshow``
  is a no-show; ``cancelled`` and ``entered-in-error`` cancel; ``proposed``, ``pending``
  and ``waitlist`` are not reminded (a booking made earlier from it is cancelled);
- times: ``start`` and ``end``, or ``minutesDuration`` when ``end`` is missing, or the
  ``Slot`` the appointment takes when it has no start;
- the patient: the ``Patient`` participant (a reference, ``#contained``, an absolute URL
  or an identifier), unless it is ``information-only`` or has ``declined``;
- contact: ``Patient.telecom`` (:func:`contact`); language: the preferred
  ``Patient.communication``; time zone: the timezone extension on the Location,
  Schedule or Practitioner, else the clinic's, never the instant's offset;
- the treatment: ``serviceType`` then ``appointmentType`` codings through the clinic's
  map, else its default treatment, else refused;
- ``comment`` (the clinic's own note) is never read; FHIR's invariants app-2, app-3
  and app-4 are checked, and an appointment that breaks one is refused, not trusted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.contactpoint import ContactPoint
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.reference import Reference

from services.booking.sources.fhir.rules import FhirRules, Treatment
from services.shared.events import Channel

TIMEZONE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/timezone"
"""FHIR's core extension for an IANA time zone (on Location, Schedule, Practitioner...)."""


class Action(StrEnum):
    BOOK = "book"
    ATTEND = "attend"
    NO_SHOW = "no-show"
    CANCEL = "cancel"
    HOLD = "hold"
    """Not reminded (proposed, pending, waitlist): a booking made from it earlier is cancelled."""


STATUS_ACTIONS = {
    "booked": Action.BOOK,
    "arrived": Action.ATTEND,
    "checked-in": Action.ATTEND,
    "fulfilled": Action.ATTEND,
    "noshow": Action.NO_SHOW,
    "cancelled": Action.CANCEL,
    "entered-in-error": Action.CANCEL,
    "proposed": Action.HOLD,
    "pending": Action.HOLD,
    "waitlist": Action.HOLD,
}


class Refused(ValueError):
    """The appointment cannot be taken; the message names the field and why."""


class Unreadable(Exception):
    """What a resolver raises for a resource the server will not give (403, another
    server's): the patient's refuses the appointment, a time zone's is looked for elsewhere."""


@dataclass(frozen=True)
class Mapped:
    """What to do with one appointment; ``body`` is the v1 booking request for ``BOOK``."""

    appointment_id: str
    action: Action
    status: str
    body: dict[str, Any] | None = None


Resolve = Callable[[Reference, str], Any | None]
"""Reads the resource a reference points at (``Patient``, ``Location``, ``Slot``...), given
the resource type expected; None when the server has no such resource."""


def map_appointment(
    appointment: Appointment, rules: FhirRules, resolve: Resolve, now: datetime
) -> Mapped:
    """What ``appointment`` comes to under the clinic's ``rules`` at ``now`` (a phone whose
    period has ended by then is not used).

    Raises:
        Refused: naming the field (``Appointment.start``, ``Patient.telecom``...) and why.
    """
    appointment_id = appointment.id or ""
    if not appointment_id:
        raise Refused("Appointment.id: missing; the booking's id is the appointment's")
    status = str(appointment.status or "")
    action = STATUS_ACTIONS.get(status)
    if action is None:
        raise Refused(f"Appointment.status: {status!r} is not an R4 appointment status")
    if appointment.cancelationReason is not None and action in (Action.BOOK, Action.ATTEND):
        raise Refused(
            f"Appointment.cancelationReason: given on a {status!r} appointment (FHIR invariant"
            " app-4: only a cancelled or no-show appointment has one); not trusted"
        )
    if action is not Action.BOOK:
        return Mapped(appointment_id, action, status)
    start, minutes = _times(appointment, resolve)
    patient_id, patient = _patient(appointment, resolve)
    treatment = _treatment(appointment, rules)
    body: dict[str, Any] = {
        "clinic_id": rules.clinic_id,
        "booking_id": appointment_id,
        "patient": _patient_fields(
            patient, patient_id, _zone(appointment, resolve, rules), rules, now
        ),
        "treatment": treatment.treatment,
        "kind": treatment.kind.value,
        "start": start.isoformat(),
    }
    if minutes is not None:
        body["duration_minutes"] = minutes
    return Mapped(appointment_id, action, status, body)


def _times(appointment: Appointment, resolve: Resolve) -> tuple[datetime, int | None]:
    start, end = appointment.start, appointment.end
    if start is None and end is not None:
        raise Refused("Appointment.end: given without a start (FHIR invariant app-2)")
    if start is None:
        slot = next((resolve(ref, "Slot") for ref in appointment.slot or []), None)
        if slot is None or slot.start is None:
            raise Refused(
                "Appointment.start: missing, and no Slot gives it (FHIR invariant app-3: only"
                " a proposed, cancelled or waitlist appointment may have no start)"
            )
        start, end = slot.start, slot.end
    if end is not None:
        if end <= start:
            raise Refused(f"Appointment.end: {end.isoformat()} is not after its start")
        return start, math.ceil((end - start).total_seconds() / 60)
    if appointment.minutesDuration is not None:
        return start, int(appointment.minutesDuration)
    raise Refused(
        "Appointment.end: missing, with no minutesDuration either (FHIR invariant app-2:"
        " either start and end are given, or neither)"
    )


def _patient(appointment: Appointment, resolve: Resolve) -> tuple[str, Patient]:
    participants = [p for p in appointment.participant or [] if _is_patient(p.actor, appointment)]
    if not participants:
        raise Refused("Appointment.participant: no Patient takes part")
    taking = [p for p in participants if p.required != "information-only"]
    if not taking:
        raise Refused("Appointment.participant: the patient is there for information only")
    reminded = [p for p in taking if p.status != "declined"]
    if not reminded:
        raise Refused("Appointment.participant.status: the patient declined")
    actor = reminded[0].actor
    assert actor is not None  # only participants with an actor were kept
    reference = actor.reference or ""
    if reference.startswith("#"):
        found = next((c for c in appointment.contained or [] if c.id == reference[1:]), None)
        if not isinstance(found, Patient):
            raise Refused(f"Appointment.participant.actor: {reference} is not a contained Patient")
        return _contained_patient_id(appointment.id or "", found), found
    try:
        patient = resolve(actor, "Patient")
    except Unreadable as exc:
        raise Refused(f"Appointment.participant.actor: {exc}") from exc
    if patient is None:
        named = reference or _identifier_text(actor)
        raise Refused(f"Appointment.participant.actor: Patient {named} is not on the server")
    return str(patient.id), patient


def _is_patient(actor: Reference | None, appointment: Appointment) -> bool:
    """Whether ``actor`` names a Patient: by type, by a reference to one, or by a
    ``#contained`` one."""
    if actor is None:
        return False
    if actor.type == "Patient":
        return True
    reference = actor.reference or ""
    if reference.startswith("#"):
        contained = appointment.contained or []
        return any(isinstance(c, Patient) and c.id == reference[1:] for c in contained)
    return bool(re.search(r"(^|/)Patient/[^/]+(/_history/[^/]+)?$", reference))


def _patient_fields(
    patient: Patient, patient_id: str, zone: str, rules: FhirRules, now: datetime
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "id": patient_id,
        "first_name": _first_name(patient),
        "timezone": zone,
        "consent": {channel.value: channel in rules.consent for channel in Channel},
    }
    if phone := contact(patient.telecom or [], Channel.SMS, now):
        fields["phone"] = phone
    if email := contact(patient.telecom or [], Channel.EMAIL, now):
        fields["email"] = email
    if not (fields.get("phone") or fields.get("email")):
        raise Refused("Patient.telecom: no current phone or email to remind the patient at")
    if locale := _locale(patient):
        fields["locale"] = locale
    return fields


def _first_name(patient: Patient) -> str:
    names = [n for n in patient.name or [] if n.use != "old"]
    names.sort(key=lambda n: {"usual": 0, "official": 1}.get(str(n.use), 2))
    for name in names:
        if name.given:
            return str(name.given[0])
        if words := str(name.text or "").split():
            return words[0]
    raise Refused("Patient.name: no given name to greet the patient by")


SMS_USES = {"mobile": 0, None: 1, "home": 2, "temp": 3, "work": 4}
"""Which phones are texted first: a mobile one, then one that says nothing, then others."""


def contact(telecom: Iterable[ContactPoint], channel: Channel, now: datetime) -> str | None:
    """The address to reach the patient at on ``channel``: never one with ``use: old`` or a
    period that has ended; an ``sms`` one before a ``phone``, a mobile phone before others,
    then by ``rank`` (1 first; a rank given as a string is read as a number)."""
    systems = ("sms", "phone") if channel is Channel.SMS else ("email",)
    found = []
    for point in telecom:
        if point.system not in systems or not point.value or point.use == "old":
            continue
        if (
            point.period is not None
            and point.period.end is not None
            and _ended(point.period.end, now)
        ):
            continue
        use_order = SMS_USES.get(point.use, 5) if channel is Channel.SMS else 0
        rank = point.rank if point.rank is not None else 1_000
        found.append((systems.index(str(point.system)), use_order, rank, str(point.value)))
    return min(found)[3] if found else None


def _ended(end: datetime | date | str, now: datetime) -> bool:
    """Whether a period's end has passed; a date, a month (``2031-05``) or a year (``2024``)
    ends when its last day does."""
    if isinstance(end, str):
        year, _, month = end.partition("-")
        last_month = int(month[:2]) if month else 12
        following = date(int(year) + last_month // 12, last_month % 12 + 1, 1)
        end = following - timedelta(days=1)
    if not isinstance(end, datetime):
        end = datetime.combine(end, time.max)
    return (end if end.tzinfo else end.replace(tzinfo=UTC)) < now


def _locale(patient: Patient) -> str | None:
    """``en-GB``, ``fr``... from the preferred communication language (else the first)."""
    languages = sorted(patient.communication or [], key=lambda c: not c.preferred)
    for communication in languages:
        for code in _codes(communication.language):
            language, _, region = code.replace("_", "-").partition("-")
            if re.fullmatch(r"[A-Za-z]{2}", language) and (
                not region or re.fullmatch(r"[A-Za-z]{2}", region)
            ):
                return language.lower() + (f"-{region.upper()}" if region else "")
    return None


def _codes(concept: CodeableConcept | None) -> list[str]:
    if concept is None:
        return []
    return [str(c.code) for c in concept.coding or [] if c.code]


def _zone(appointment: Appointment, resolve: Resolve, rules: FhirRules) -> str:
    """The IANA zone from the timezone extension of the appointment's Location, Schedule
    (through its Slot) or Practitioner; else the clinic's. Never from an instant's offset."""
    for participant in appointment.participant or []:
        for kind in ("Location", "Practitioner", "PractitionerRole"):
            actor = participant.actor
            found = _maybe(resolve, actor, kind) if actor and _points_at(actor, kind) else None
            if zone := _zone_of(found):
                return zone
    for slot_ref in appointment.slot or []:
        slot = _maybe(resolve, slot_ref, "Slot")
        schedule = slot.schedule if slot is not None else None
        if schedule is not None and (zone := _zone_of(_maybe(resolve, schedule, "Schedule"))):
            return zone
    return rules.timezone


def _maybe(resolve: Resolve, reference: Reference, kind: str) -> Any | None:
    """The resource, or None when the server will not give it (a token without its scope)."""
    try:
        return resolve(reference, kind)
    except Unreadable:
        return None


def _zone_of(resource: Any | None) -> str | None:
    for extension in getattr(resource, "extension", None) or []:
        if extension.url == TIMEZONE_EXTENSION and extension.valueCode:
            return str(extension.valueCode)
    return None


def _points_at(reference: Reference, kind: str) -> bool:
    return reference.type == kind or bool(
        re.search(rf"(^|/){kind}/[^/]+$", reference.reference or "")
    )


def _treatment(appointment: Appointment, rules: FhirRules) -> Treatment:
    concepts = [
        *(appointment.serviceType or []),
        *([appointment.appointmentType] if appointment.appointmentType else []),
    ]
    folded = {key.casefold(): value for key, value in rules.codes.items()}
    for concept in concepts:
        for coding in concept.coding or []:
            keys = [
                f"{coding.system}|{coding.code}" if coding.system else None,
                coding.code,
                coding.display,
            ]
            for key in keys:
                if key and (found := rules.codes.get(str(key)) or folded.get(str(key).casefold())):
                    return found
        if concept.text and (found := folded.get(str(concept.text).casefold())):
            return found
    if rules.default is not None:
        return rules.default
    said = ", ".join(_describe(c) for c in concepts) or "none given"
    raise Refused(
        f"Appointment.serviceType: no treatment for {said} in the clinic's map, and the clinic"
        " has no default treatment (--treatment)"
    )


def _describe(concept: CodeableConcept) -> str:
    """``system|code "display"`` for each coding, else the concept's text."""
    codings = [
        (f"{c.system}|{c.code}" if c.system else str(c.code))
        + (f" {str(c.display)!r}" if c.display else "")
        for c in concept.coding or []
        if c.code
    ]
    return " / ".join(codings) or repr(str(concept.text))


def _identifier_text(reference: Reference) -> str:
    identifier = reference.identifier
    if identifier is None:
        return "(no reference)"
    return f"identifier {identifier.system or ''}|{identifier.value or ''}"


def _contained_patient_id(appointment_id: str, patient: Patient) -> str:
    """A contained Patient has no id of its own on the server: ``contained.`` and its first
    identifier's value (never to be taken for a server Patient's id), else the appointment's
    id and the contained one's."""
    for identifier in patient.identifier or []:
        if identifier.value and re.fullmatch(r"[A-Za-z0-9._-]{1,118}", str(identifier.value)):
            return f"contained.{identifier.value}"
    return f"{appointment_id}.{patient.id}"
