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


def worker_counts(url: str, token: str | None, timeout: float = 2.0) -> WorkerCounts:
    """GET ``url`` with the worker's ``token`` and read ``pending`` and ``due_soon``
    (or ``due_next_hour``).

    Never raises: a worker that is down, or has no such view, gives unknown
    counts with a note saying why.
    """
    try:
        with urllib.request.urlopen(authorized(url, token), timeout=timeout) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return WorkerCounts(note=f"{url} answered {exc.code}{refused_hint(exc.code, token)}")
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


def authorized(url: str, token: str | None) -> urllib.request.Request:
    """A GET of ``url`` that carries the worker's token when there is one."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return urllib.request.Request(url, headers=headers)


def refused_hint(code: int, token: str | None) -> str:
    """What to do about a 401: the worker wants a token this side does not have or has wrong."""
    if code != 401:
        return ""
    if token is None:
        return " (no token: set CLINIC_WORKER_WEB_TOKEN as the worker has it)"
    return " (the token was refused: CLINIC_WORKER_WEB_TOKEN differs from the worker's)"
