"""Loading treatment protocols from YAML files, and the registry that holds them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from services.reminders.planning.models import FieldIssue, Protocol
from services.shared.catalogue import BUILTIN_PROTOCOLS

BUILTIN_DIR = BUILTIN_PROTOCOLS

__all__ = [
    "BUILTIN_DIR",
    "Protocol",
    "ProtocolError",
    "ProtocolRegistry",
    "UnknownTreatment",
    "load_protocol",
]


class ProtocolError(ValueError):
    """A protocol file that cannot be used; the message names the file, milestone and field."""


class UnknownTreatment(ValueError):
    """A booking for a treatment that has no protocol; never retried."""

    def __init__(self, treatment: str, known: Iterable[str]) -> None:
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"no protocol for treatment {treatment!r} (known: {names})")
        self.treatment = treatment


def load_protocol(path: Path) -> Protocol:
    """Read and validate one protocol file.

    Raises:
        ProtocolError: the file is missing, not YAML, or not a valid protocol; the
            message starts with the file name, then the milestone and the field.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProtocolError(f"{path.name}: cannot be read as YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProtocolError(f"{path.name}: expected a mapping with 'treatment', 'milestones', ...")
    try:
        return Protocol.model_validate(raw)
    except ValidationError as exc:
        raise ProtocolError(_describe(path.name, raw, exc)) from exc


def _describe(file: str, raw: dict[str, Any], exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc: tuple[str | int, ...] = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        issue = err.get("ctx", {}).get("error")
        if isinstance(issue, FieldIssue):
            loc = loc + issue.loc
        lines.append(f"{file}: {_where(raw, loc)}: {message}")
    return "; ".join(lines)


def _where(raw: dict[str, Any], loc: tuple[str | int, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "milestones" and isinstance(loc[1], int):
        field = ".".join(str(part) for part in loc[2:]) or "(milestone)"
        return f"milestone {_milestone_name(raw, loc[1])}: field {field!r}"
    return f"field {'.'.join(str(part) for part in loc) or '(file)'!r}"


def _milestone_name(raw: dict[str, Any], index: int) -> str:
    try:
        return repr(str(raw["milestones"][index]["id"]))
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}"


class ProtocolRegistry:
    """The protocols a platform knows, by treatment name."""

    def __init__(self, protocols: Iterable[Protocol] = ()) -> None:
        self._by_treatment = {p.treatment: p for p in protocols}

    @classmethod
    def builtin(cls) -> ProtocolRegistry:
        """The protocols shipped with the platform (``services/shared/protocols``)."""
        return cls.from_dirs(BUILTIN_DIR)

    @classmethod
    def from_dirs(cls, *dirs: Path) -> ProtocolRegistry:
        """Every ``*.yaml`` in ``dirs``; a later directory's protocol replaces an earlier one.

        Raises:
            ProtocolError: any file is invalid (the platform must not start half-configured).
        """
        protocols = [load_protocol(p) for d in dirs for p in sorted(Path(d).glob("*.yaml"))]
        return cls(protocols)

    def get(self, treatment: str) -> Protocol:
        """The protocol of ``treatment``; raises :class:`UnknownTreatment` if there is none."""
        try:
            return self._by_treatment[treatment]
        except KeyError:
            raise UnknownTreatment(treatment, self._by_treatment) from None

    def __contains__(self, treatment: object) -> bool:
        return treatment in self._by_treatment

    def treatments(self) -> list[str]:
        return sorted(self._by_treatment)
