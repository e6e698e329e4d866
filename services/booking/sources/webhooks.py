"""A clinic system's own webhook JSON, taken as it is, through a small per-clinic mapping file.

``<webhook_dir>/<clinic_id>.yaml``::

    action: event                    # where their JSON says what happened (dotted path)
    actions:                         # their word -> ours: upsert, cancel, attended, no_show
      appointment.booked: upsert
      appointment.moved: upsert
      appointment.cancelled: cancel
    fields:                          # our field -> dotted path in their JSON
      booking_id: data.appointment.id
      patient.id: data.client.id
      start: data.appointment.starts_at
    values:                          # their value -> ours, per field
      treatment: {"Thread veins": microsclerotherapy}
    defaults:                        # our field -> value when they send none
      kind: treatment
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from services.booking.errors import BookingNotFound, FieldError, InvalidBooking

ACTIONS = frozenset({"upsert", "cancel", "attended", "no_show"})


@dataclass(frozen=True)
class WebhookMapping:
    """How one clinic's webhook JSON maps onto a v1 booking request."""

    fields: dict[str, str]
    action: str | None = None
    actions: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_yaml(cls, text: str) -> WebhookMapping:
        """Parse a mapping file; ValueError naming what is wrong."""
        raw = yaml.safe_load(text) or {}
        if not isinstance(raw, dict) or not isinstance(raw.get("fields"), dict):
            raise ValueError("a webhook mapping needs a 'fields' section")
        unknown = set(raw.get("actions", {}).values()) - ACTIONS
        if unknown:
            raise ValueError(f"unknown actions {sorted(unknown)}; use {sorted(ACTIONS)}")
        return cls(
            fields=raw["fields"],
            action=raw.get("action"),
            actions=raw.get("actions", {}),
            values=raw.get("values", {}),
            defaults=raw.get("defaults", {}),
        )

    def translate(self, payload: Any, clinic_id: str) -> tuple[str, dict[str, Any]]:
        """Our action and v1 booking request for their ``payload``.

        Raises:
            InvalidBooking: the action is missing or unknown (named by their path).
        """
        body: dict[str, Any] = {}
        for ours, value in self.defaults.items():
            _put(body, ours, value)
        for ours, theirs in self.fields.items():
            found = _get(payload, theirs)
            if found is not None:
                translated = self.values.get(ours, {}).get(found) if _scalar(found) else None
                _put(body, ours, found if translated is None else translated)
        body["clinic_id"] = clinic_id
        return self._action(payload), body

    def _action(self, payload: Any) -> str:
        if self.action is None:
            return "upsert"
        said = _get(payload, self.action)
        if not _scalar(said) or said not in self.actions:
            known = ", ".join(sorted(self.actions))
            raise InvalidBooking([FieldError(self.action, f"{said!r} is not one of: {known}")])
        return self.actions[said]


class MappingFolder:
    """The mapping files in one folder, read when first needed and kept."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._loaded: dict[str, WebhookMapping] = {}

    def get(self, clinic_id: str) -> WebhookMapping:
        """The clinic's mapping; :class:`BookingNotFound`-like 404 when it has none."""
        if clinic_id not in self._loaded:
            path = self._folder / f"{clinic_id}.yaml"
            if not path.is_file() or "/" in clinic_id or clinic_id.startswith("."):
                raise NoMapping(clinic_id)
            self._loaded[clinic_id] = WebhookMapping.from_yaml(path.read_text(encoding="utf-8"))
        return self._loaded[clinic_id]


class NoMapping(BookingNotFound):
    def __init__(self, clinic_id: str) -> None:
        Exception.__init__(self, f"clinic {clinic_id!r} has no webhook mapping")


def _scalar(value: Any) -> bool:
    """A value a mapping can look up (their JSON may hold a list or object anywhere)."""
    return isinstance(value, str | int | float | bool)


def _get(payload: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(payload, Mapping):
            payload = payload.get(part)
        elif isinstance(payload, list) and part.isdigit() and int(part) < len(payload):
            payload = payload[int(part)]
        else:
            return None
    return payload


def _put(body: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        body = body.setdefault(part, {})
    body[last] = value
