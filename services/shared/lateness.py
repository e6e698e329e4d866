"""How a reminder that can no longer help is described, wherever that is decided."""

from __future__ import annotations

from datetime import datetime

MISSED = "missed while the platform was down"
"""Came due while the platform (or the part that would have sent it) was stopped."""
STALE = "stale"


def no_longer_useful(why: str, due_at: datetime, stale_at: datetime) -> str:
    """The skip reason of a reminder past ``stale_at``: ``why: due ..., of no use after ...``."""
    return f"{why}: due {due_at.isoformat()}, of no use after {stale_at.isoformat()}"
