"""The reminders workers' views read over HTTP: each worker's share of the plans, never raising.

How the shares are added up is :mod:`services.ops.worker_merge`; where the
workers are is :mod:`services.ops.worker_registry`.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

STATS = "/reminders/stats"


@dataclass(frozen=True)
class WorkerShare:
    """What one worker said of its share of the plans, or (``note``) why it could not be read.

    ``counted`` are the partitions its figures stand for, of ``partitions_total``;
    ``instance`` is new at each start of a worker, so one asked at two addresses
    is seen to be one.
    """

    url: str
    worker_id: str | None = None
    instance: str | None = None
    counted: tuple[int, ...] = ()
    partitions_total: int | None = None
    pending: int | None = None
    due_soon: int | None = None
    note: str | None = None


@dataclass(frozen=True)
class WorkerCounts:
    """Pending reminders and those due within the next hour, over every worker.

    None when unknown, with ``note`` saying why; ``workers`` are the answers
    they were made from.
    """

    pending: int | None = None
    due_soon: int | None = None
    note: str | None = None
    workers: tuple[WorkerShare, ...] = ()


@dataclass(frozen=True)
class Reply:
    """One GET of a worker's view: its status and JSON object, or ``note`` saying why none."""

    url: str
    status: int | None = None
    body: dict[str, Any] | None = None
    note: str | None = None


def ask(url: str, token: str | None, timeout: float = 2.0) -> Reply:
    """GET ``url`` with the worker's ``token``; blocks ``timeout`` seconds at most.

    Never raises: a 200 or a 404 with a JSON object gives its status and body,
    anything else a note naming the URL and what went wrong.
    """
    try:
        with urllib.request.urlopen(authorized(url, token), timeout=timeout) as response:
            return _parsed(url, response.status, response.read())
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return _parsed(url, 404, exc.read())
        return Reply(url, note=f"{url} answered {exc.code}{refused_hint(exc.code, token)}")
    except (OSError, http.client.HTTPException) as exc:  # e.g. a worker gone mid-answer
        return Reply(url, note=f"{url} not readable: {str(exc) or type(exc).__name__}")


def ask_each(urls: list[str], token: str | None, timeout: float = 2.0) -> list[Reply]:
    """:func:`ask` each of ``urls`` at once; blocks about ``timeout`` seconds at most in all."""
    if not urls:
        return []
    with ThreadPoolExecutor(max_workers=min(len(urls), 16)) as pool:
        return list(pool.map(lambda url: ask(url, token, timeout), urls))


def read_shares(bases: list[str], token: str | None, timeout: float = 2.0) -> list[WorkerShare]:
    """Each worker's ``/reminders/stats`` at ``bases`` (``http://host:port``), in that order."""
    replies = ask_each([base.rstrip("/") + STATS for base in bases], token, timeout)
    return [
        share_of(base, reply if reply.status in (None, 200) else _no_view(reply))
        for base, reply in zip(bases, replies, strict=True)
    ]


def share_of(base: str, reply: Reply) -> WorkerShare:
    """The share a stats (or booking) answer names; a note when it names none."""
    body = reply.body
    if reply.note is not None or body is None:
        return WorkerShare(base, note=reply.note)
    worker, counted = body.get("worker"), _ints(body.get("counted"))
    if not isinstance(worker, dict) or counted is None:
        note = f"{reply.url} does not say which partitions it counts (an older worker?)"
        return WorkerShare(base, note=note)
    return WorkerShare(
        base,
        worker_id=_text(worker.get("id")),
        instance=_text(worker.get("instance")),
        counted=tuple(sorted(counted)),
        partitions_total=_count(body.get("partitions_total")),
        pending=_count(body.get("pending")),
        due_soon=_count(body.get("due_soon", body.get("due_next_hour"))),
    )


def _no_view(reply: Reply) -> Reply:
    return Reply(reply.url, note=f"{reply.url} answered {reply.status} (no such view)")


def _parsed(url: str, status: int, raw: bytes) -> Reply:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return Reply(url, note=f"{url} not readable: {exc}")
    if not isinstance(body, dict):
        return Reply(url, note=f"{url} did not answer a JSON object")
    return Reply(url, status, body)


def _ints(value: object) -> list[int] | None:
    if not isinstance(value, list):
        return None
    found = [n for n in map(_count, value) if n is not None]
    return found if len(found) == len(value) else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


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
