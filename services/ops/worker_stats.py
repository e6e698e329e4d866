"""The reminders worker's own counts, from its web view ``/reminders/stats`` when it has one."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkerCounts:
    """Pending reminders and those due within the next hour; None when unknown."""

    pending: int | None = None
    due_soon: int | None = None
    note: str | None = None


def worker_counts(url: str, timeout: float = 2.0) -> WorkerCounts:
    """GET ``url`` and read ``pending`` and ``due_soon`` (or ``due_next_hour``).

    Never raises: a worker that is down, or has no such view, gives unknown
    counts with a note saying why.
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return WorkerCounts(note=f"{url} answered {exc.code}")
    except (OSError, ValueError) as exc:
        return WorkerCounts(note=f"{url} not readable: {exc}")
    if not isinstance(body, dict):
        return WorkerCounts(note=f"{url} did not answer a JSON object")
    return WorkerCounts(
        pending=_count(body.get("pending")),
        due_soon=_count(body.get("due_soon", body.get("due_next_hour"))),
    )


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
