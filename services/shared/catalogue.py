"""The protocol catalogue: which treatments the platform knows, shared by every service.

Each treatment has one protocol file (``<treatment>.yaml``): the built-in ones
in ``services/shared/protocols/`` and a clinic's own in ``CLINIC_PROTOCOLS_DIR``.
The reminders worker plans from them (``services/reminders/planning``); the
booking service only needs to know which treatments exist, which it reads here
without loading the planner.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

BUILTIN_PROTOCOLS = Path(__file__).resolve().parent / "protocols"


def protocol_files(extra: Path | None = None) -> list[Path]:
    """The built-in protocol files, then ``extra``'s (a later one replaces an earlier one)."""
    folders: Iterable[Path] = (BUILTIN_PROTOCOLS, extra) if extra else (BUILTIN_PROTOCOLS,)
    return [path for folder in folders for path in sorted(folder.glob("*.yaml"))]


def treatments(extra: Path | None = None) -> frozenset[str]:
    """The treatment of every protocol file; ValueError naming a file that names none."""
    found = set()
    for path in protocol_files(extra):
        text = yaml.safe_load(path.read_text(encoding="utf-8"))
        treatment = text.get("treatment") if isinstance(text, dict) else None
        if not isinstance(treatment, str) or not treatment:
            raise ValueError(f"{path}: a protocol file names its treatment ('treatment: ...')")
        found.add(treatment)
    return frozenset(found)
