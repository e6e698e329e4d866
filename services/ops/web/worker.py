"""A booking's plan, asked of every reminders worker over HTTP; never raises.

The plan lives on the worker that holds its patient's partition, so each
worker is asked; one answers with the plan, the others 404 naming the
partitions they looked in. The workers' counts (pending, due soon) come
through :mod:`services.ops.status` as the CLI reads them.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.ops.worker_merge import coverage, why_unknown
from services.ops.worker_stats import Reply, ask_each, share_of

Addresses = Callable[[], tuple[list[str], str | None]]
"""Every worker's address (``http://host:port``), and why the registry could not be read."""


@dataclass(frozen=True)
class WorkerAnswer:
    """A view's JSON body, or why there is none.

    ``body`` is None with ``absent`` True when every partition was looked in
    and no worker holds such a thing, and with ``note`` when some partition's
    worker could not be asked (the note names the partitions).
    """

    body: dict[str, Any] | None = None
    absent: bool = False
    note: str | None = None


def plan_of(bases: list[str], replies: list[Reply]) -> WorkerAnswer:
    """What the workers at ``bases`` said together about one plan.

    A worker answers with a plan only from a partition its figures stand for,
    so the first plan found is the one. With none, the plan is absent only if
    the answers looked in every partition.
    """
    for reply in replies:
        if reply.status == 200 and reply.body is not None:
            return WorkerAnswer(reply.body)
    cover = coverage([share_of(b, r) for b, r in zip(bases, replies, strict=True)])
    if cover.answered and cover.total is not None and not cover.missing:
        return WorkerAnswer(absent=True)
    return WorkerAnswer(note=f"the plan is not known: {why_unknown(cover)}")


class WorkerViews:
    """The views of every reminders worker ``addresses`` names when asked."""

    def __init__(
        self, addresses: Addresses, token: Callable[[], str | None], timeout: float = 2.0
    ) -> None:
        self._addresses = addresses
        self._token = token
        self._timeout = timeout

    def booking(
        self, booking_id: str, clinic_id: str | None = None, patient_id: str | None = None
    ) -> WorkerAnswer:
        """``/reminders/bookings/{id}`` of each worker: the booking's pending reminders and
        those done. Blocks about ``timeout`` seconds at most, the workers asked at once.

        With the booking's clinic and patient each worker reads one plan;
        without them each has to read every plan it holds.
        """
        path = f"/reminders/bookings/{urllib.parse.quote(booking_id, safe='')}"
        if clinic_id and patient_id:
            path += "?" + urllib.parse.urlencode({"clinic": clinic_id, "patient": patient_id})
        bases, unread = self._addresses()
        replies = ask_each([base + path for base in bases], self._token(), self._timeout)
        answer = plan_of(bases, replies)
        if answer.note and unread:
            return WorkerAnswer(note=f"{answer.note} ({unread})")
        return answer
