"""Which treatments the booking service accepts."""

from __future__ import annotations

import importlib
from collections.abc import Iterable


def known_treatments(configured: Iterable[str]) -> frozenset[str]:
    """The configured treatments, plus every treatment with a built-in protocol.

    The protocol registry belongs to the reminders service; it is looked up
    lazily and, if it is not installed or fails to load, the configured set
    alone applies.
    """
    found = set(configured)
    try:
        module = importlib.import_module("services.reminders.planning.protocol")
        found.update(str(t) for t in module.ProtocolRegistry.builtin().treatments())
    except Exception:
        pass
    return frozenset(found)
