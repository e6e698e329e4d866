"""FHIR resources parsed with ``fhir.resources`` (R4B's models read R4's Appointment, Patient,
Location, Slot, Schedule and Practitioner), and their refusals named by field."""

from __future__ import annotations

from typing import Any, TypeVar

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.location import Location
from fhir.resources.R4B.patient import Patient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot
from pydantic import ValidationError

MODELS: dict[str, Any] = {
    "Appointment": Appointment,
    "Patient": Patient,
    "Location": Location,
    "Slot": Slot,
    "Schedule": Schedule,
    "Practitioner": Practitioner,
    "PractitionerRole": PractitionerRole,
}
M = TypeVar("M")


def parse_resource(raw: dict[str, Any], model: type[M]) -> M:
    """``raw`` as ``model``. Raises ValidationError naming each bad field."""
    return model.model_validate(raw)  # type: ignore[attr-defined,no-any-return]


def refusal_of(exc: ValidationError, kind: str | None = None) -> str:
    """``Appointment.start: ...; Appointment.participant: ...``: each field and what is wrong."""
    name = kind or exc.title
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"] if p != "__root__")
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{name}.{where}: {message}" if where else f"{name}: {message}")
    more = len(exc.errors()) - 5
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
