"""How one clinic's calendar events map onto v1 booking requests: a small YAML file.

Each of our fields lists where to look in the event, first found wins::

    fields:
      patient.id: [X-PATIENT-ID, "description:Patient ID"]
      patient.email: [attendee.email]
    values:                 # their value -> ours, per field (exact, then ignoring case)
      kind: {Consultation: consultation}
    defaults:               # our field -> value when no source gives one
      kind: treatment
    timezone: Europe/London # for times without a zone, and the patient's zone if none found

A source is one of:

- a property name (``X-PATIENT-ID``, ``SUMMARY``, ``LOCATION``...): its text;
- ``description:Key``: the value of a ``Key: value`` line of DESCRIPTION
  (the key ignores case);
- ``attendee.email``, ``attendee.cn``, ``attendee.first_name`` (the first word
  of CN), and the same for ``organizer``;
- ``dtstart.tzid``: the IANA zone DTSTART was given in.

The file's ``fields`` are merged over :data:`DEFAULT_FIELDS`, field by field, so
a feed that writes ``Patient ID:``, ``Patient:``, ``Phone:``, ``Email:``,
``Treatment:`` and ``Type:`` lines (or the matching X- properties) needs no file.
The start and duration always come from DTSTART and DTEND (or DURATION).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from services.booking.errors import FieldError, InvalidBooking
from services.booking.sources.calendar.events import FeedEvent, Party

DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "patient.id": ("X-PATIENT-ID", "description:Patient ID"),
    "patient.first_name": (
        "X-PATIENT-FIRST-NAME",
        "description:First name",
        "description:Patient",
        "attendee.first_name",
    ),
    "patient.phone": ("X-PATIENT-PHONE", "description:Phone"),
    "patient.email": ("X-PATIENT-EMAIL", "description:Email", "attendee.email"),
    "patient.timezone": ("X-PATIENT-TIMEZONE", "dtstart.tzid"),
    "treatment": ("X-TREATMENT", "description:Treatment"),
    "kind": ("X-APPOINTMENT-KIND", "description:Kind", "description:Type"),
    "session_number": ("X-SESSION-NUMBER", "description:Session"),
}
REQUIRED = ("patient.id", "patient.first_name", "treatment", "kind")


@dataclass(frozen=True)
class CalendarMapping:
    """Where each booking field comes from in a clinic's calendar events."""

    fields: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_FIELDS))
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    timezone: str = "Europe/London"

    @classmethod
    def from_yaml(cls, text: str) -> CalendarMapping:
        """Parse a mapping file; ValueError naming what is wrong."""
        raw = yaml.safe_load(text) or {}
        if not isinstance(raw, dict):
            raise ValueError("a calendar mapping is a YAML mapping of sections")
        fields = dict(DEFAULT_FIELDS)
        for ours, sources in (raw.get("fields") or {}).items():
            sources = [sources] if isinstance(sources, str) else sources
            if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
                raise ValueError(f"fields.{ours}: give a source or a list of sources")
            fields[str(ours)] = tuple(sources)
        return cls(
            fields=fields,
            values={str(k): dict(v) for k, v in (raw.get("values") or {}).items()},
            defaults=dict(raw.get("defaults") or {}),
            timezone=str(raw.get("timezone") or "Europe/London"),
        )

    def request(self, event: FeedEvent, clinic_id: str, booking_id: str) -> dict[str, Any]:
        """The v1 booking request for ``event`` (the service validates it further).

        Raises:
            InvalidBooking: a required field was found in none of its sources.
        """
        body: dict[str, Any] = {}
        for ours, value in self.defaults.items():
            _put(body, ours, value)
        missing = []
        for ours, sources in self.fields.items():
            found = next((v for v in (source(event, s) for s in sources) if v), None)
            if found is not None:
                _put(body, ours, self._translate(ours, found))
            elif ours in REQUIRED and not _has(body, ours):
                missing.append(FieldError(ours, f"found in none of: {', '.join(sources)}"))
        if missing:
            raise InvalidBooking(missing)
        body.setdefault("patient", {}).setdefault("timezone", self.timezone)
        body.update(clinic_id=clinic_id, booking_id=booking_id, start=event.start)
        if event.duration_minutes is not None:
            body["duration_minutes"] = event.duration_minutes
        return body

    def _translate(self, ours: str, found: str) -> Any:
        table = self.values.get(ours, {})
        if found in table:
            return table[found]
        folded = {str(k).casefold(): v for k, v in table.items()}
        return folded.get(found.casefold(), found)


def source(event: FeedEvent, name: str) -> str | None:
    """The text ``name`` (see the module doc) finds in ``event``, or None."""
    kind, colon, key = name.partition(":")
    if colon and kind.lower() == "description":
        return event.description.get(key.strip().lower())
    who, dot, part = name.lower().partition(".")
    if dot and who in ("attendee", "organizer"):
        return _party(event.attendee if who == "attendee" else event.organizer, part)
    if name.lower() == "dtstart.tzid":
        return event.zone
    return event.properties.get(name.upper()) or None


def _party(party: Party, part: str) -> str | None:
    if part == "email":
        return party.email
    if part == "cn":
        return party.name
    if part == "first_name" and party.name:
        return party.name.split()[0]
    return None


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        body = body.setdefault(part, {})
    body[last] = value


def _has(body: dict[str, Any], path: str) -> bool:
    for part in path.split("."):
        if not isinstance(body, dict) or part not in body:
            return False
        body = body[part]
    return True
