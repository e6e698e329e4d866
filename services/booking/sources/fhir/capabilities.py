"""What a clinic's FHIR server says it supports (its CapabilityStatement), as far as
following its appointments goes: the searches a pass makes, ``_include``, and subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.booking.sources.fhir.errors import FhirUnavailable

BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport"


@dataclass(frozen=True)
class ServerSupport:
    software: str
    fhir_version: str
    appointment_search: bool
    search_params: frozenset[str]
    includes_patient: bool
    patient_read: bool
    rest_hook: bool
    topics: bool

    @classmethod
    def of(cls, statement: dict[str, Any]) -> ServerSupport:
        """Read from ``GET [base]/metadata``; what it does not say is taken as unsupported.
        :class:`FhirUnavailable` if the answer is no CapabilityStatement."""
        if statement.get("resourceType") != "CapabilityStatement":
            kind = statement.get("resourceType")
            raise FhirUnavailable(f"[base]/metadata answered {kind!r}, not a CapabilityStatement")
        resources: dict[str, dict[str, Any]] = {}
        for rest in statement.get("rest") or []:
            if isinstance(rest, dict) and rest.get("mode", "server") == "server":
                for resource in rest.get("resource") or []:
                    if isinstance(resource, dict) and resource.get("type"):
                        resources[str(resource["type"])] = resource
        appointment = resources.get("Appointment", {})
        software = statement.get("software") or {}
        profiles = " ".join(str(v) for v in statement.get("instantiates") or [])
        subscription = resources.get("Subscription", {})
        return cls(
            software=" ".join(str(software.get(k, "")) for k in ("name", "version")).strip()
            or "not named",
            fhir_version=str(statement.get("fhirVersion") or "not given"),
            appointment_search=_can(appointment, "search-type"),
            search_params=frozenset(
                str(p.get("name"))
                for p in appointment.get("searchParam") or []
                if isinstance(p, dict)
            ),
            includes_patient="Appointment:patient" in (appointment.get("searchInclude") or []),
            patient_read=_can(resources.get("Patient", {}), "read"),
            rest_hook=bool(subscription),
            topics="SubscriptionTopic" in resources or BACKPORT in profiles,
        )

    @property
    def followable(self) -> bool:
        """Whether a pass can be made at all: Appointment searched, Patients read."""
        return self.appointment_search and self.patient_read

    def lines(self) -> list[str]:
        """What a clinic's IT person reads, one finding a line."""

        def mark(ok: bool) -> str:
            return "[green]yes[/green]" if ok else "[red]no[/red]"

        params = self.search_params
        return [
            f"server: {self.software}, FHIR {self.fhir_version}",
            f"Appointment search: {mark(self.appointment_search)}"
            f" (date {mark('date' in params)}, _lastUpdated {mark('_lastUpdated' in params)})",
            f"_include=Appointment:patient: {mark(self.includes_patient)}"
            + ("" if self.includes_patient else " (each patient is read on its own)"),
            f"Patient read: {mark(self.patient_read)}",
            f"subscriptions: rest-hook {mark(self.rest_hook)}, topic-based {mark(self.topics)}"
            + ("" if self.rest_hook or self.topics else " (changes are found by polling)"),
        ] + (
            []
            if self.followable
            else [
                "[red]this server cannot be followed: it does not let"
                " Appointments be searched and Patients read[/red]"
            ]
        )


def _can(resource: dict[str, Any], interaction: str) -> bool:
    return any(
        isinstance(i, dict) and i.get("code") == interaction
        for i in resource.get("interaction") or []
    )
