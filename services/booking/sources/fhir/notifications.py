"""What a clinic's FHIR server pushes when an appointment changes, read into a :class:`Notice`.

Three shapes arrive at ``/v1/fhir/{clinic_id}``:

- R4's rest-hook with a payload: the resource itself, PUT (or POSTed) to
  ``[endpoint]/Appointment/{id}``, or POSTed to the endpoint;
- R4's rest-hook without one: an empty POST, which says "look again";
- a topic-based notification Bundle (R4B and R5, and R4's Subscriptions
  Backport): its first entry a ``SubscriptionStatus`` (or the backport's
  ``Parameters``), then the appointments in full (``full-resource``), their
  addresses only (``id-only``), or nothing (``empty``). A ``handshake`` or
  ``heartbeat`` asks nothing.

Whatever cannot be read is refused with the field named (:class:`BadNotice`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

BOOKED_TYPES = frozenset({"Appointment"})
"""The resources a notification may bring that a follower acts on; others ride along
(a Patient for an appointment) or are left."""


class BadNotice(ValueError):
    """The push cannot be read; ``field`` names where, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class Notice:
    """What one push asks: ``resources`` to take (appointments, and what they point at),
    ``references`` to read first (``Appointment/123``), or only to look again."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    look_again: bool = False

    @property
    def appointments(self) -> int:
        taken = sum(r.get("resourceType") in BOOKED_TYPES for r in self.resources)
        return taken + len(self.references)

    def to_json(self) -> str:
        return json.dumps(
            {
                "resources": self.resources,
                "references": self.references,
                "look_again": self.look_again,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Notice:
        raw = json.loads(text)
        return cls(raw["resources"], raw["references"], raw["look_again"])


def read_notice(body: bytes, appointment_id: str | None = None) -> Notice:
    """The notice in a push's ``body``; ``appointment_id`` when it came to
    ``.../Appointment/{id}``. Raises :class:`BadNotice`."""
    if not body.strip():
        if appointment_id is not None:
            raise BadNotice("body", "a PUT of an appointment carries the appointment")
        return Notice(look_again=True)
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise BadNotice("body", f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("resourceType"), str):
        raise BadNotice("resourceType", "the body is not a FHIR resource")
    kind = raw["resourceType"]
    if kind == "Bundle":
        if appointment_id is not None:
            raise BadNotice("resourceType", "a Bundle was sent to an appointment's address")
        return _bundle(raw)
    if kind != "Appointment":
        raise BadNotice(
            "resourceType", f"{kind!r}: only Appointments and notification Bundles are taken"
        )
    if appointment_id is not None and raw.get("id") != appointment_id:
        raise BadNotice(
            "id", f"{raw.get('id')!r} is not {appointment_id!r}, the address it was sent to"
        )
    return Notice(resources=[raw])


def _bundle(bundle: dict[str, Any]) -> Notice:
    entries = bundle.get("entry")
    if entries is None:
        entries = []
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadNotice("Bundle.entry", "not a list of entries")
    if bundle.get("type") not in ("history", "subscription-notification"):
        raise BadNotice(
            "Bundle.type",
            f"{bundle.get('type')!r}: a notification Bundle is a 'subscription-notification'"
            " (or, in R4's backport, 'history')",
        )
    if not entries:
        raise BadNotice("Bundle.entry", "a notification starts with its SubscriptionStatus")
    status = entries[0].get("resource")
    kind, focus = _status(status)
    if kind in ("handshake", "heartbeat"):
        return Notice()
    resources: list[dict[str, Any]] = []
    references: list[str] = []
    for at, entry in enumerate(entries[1:], start=1):
        resource = entry.get("resource")
        if isinstance(resource, dict):
            if not isinstance(resource.get("resourceType"), str):
                raise BadNotice(f"Bundle.entry[{at}].resource", "has no resourceType")
            resources.append(resource)
        elif isinstance(entry.get("fullUrl"), str) and "/Appointment/" in f"/{entry['fullUrl']}":
            references.append(_relative(entry["fullUrl"]))
    if not resources and not references:
        references = [_relative(f) for f in focus if "Appointment/" in f]
    if not resources and not references:
        return Notice(look_again=True)  # an empty payload: something changed, look again
    return Notice(resources, references)


def _status(status: Any) -> tuple[str, list[str]]:
    """The notification's type and its events' focus references, from an R4B/R5
    ``SubscriptionStatus`` or the R4 backport's ``Parameters``."""
    if not isinstance(status, dict):
        raise BadNotice(
            "Bundle.entry[0].resource", "missing: a notification starts with its status"
        )
    if status.get("resourceType") == "SubscriptionStatus":
        focus = [
            str(reference)
            for event in _dicts(status.get("notificationEvent"))
            for reference in [_field(event.get("focus"), "reference")]
            if reference
        ]
        return str(status.get("type") or "event-notification"), focus
    if status.get("resourceType") == "Parameters":
        kind, focus = "event-notification", []
        for parameter in _dicts(status.get("parameter")):
            if parameter.get("name") == "type":
                kind = str(parameter.get("valueCode") or kind)
            if parameter.get("name") == "notification-event":
                for part in _dicts(parameter.get("part")):
                    reference = _field(part.get("valueReference"), "reference")
                    if part.get("name") == "focus" and reference:
                        focus.append(str(reference))
        return kind, focus
    raise BadNotice(
        "Bundle.entry[0].resource",
        f"{status.get('resourceType')!r}: a notification starts with a SubscriptionStatus"
        " (or, in R4's backport, its Parameters)",
    )


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The objects of a JSON list; nothing for anything else."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, dict) else None


def _relative(url: str) -> str:
    """``Appointment/123`` from ``https://ehr/fhir/R4/Appointment/123/_history/2``."""
    tail = url[url.rindex("Appointment/") :] if "Appointment/" in url else url
    return "/".join(tail.split("/")[:2])
