"""This worker as one member of the group: who it is, what its figures cover, its registration.

With several workers each holds some partitions, so each answer of its views
says which (``counted``) and of how many (``partitions_total``); the ops tools
add the answers up only when together they cover every partition exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from services.shared.clock import Clock
from services.shared.events import encode
from services.shared.workers import WorkerRegistered

log = logging.getLogger("clinic.reminders")

Send = Callable[[bytes, bytes | None], Awaitable[object]]
"""Write one record (key, value; None is a tombstone) to the workers topic and wait for it."""


@dataclass(frozen=True)
class Member:
    """One worker process: its id, its views' address and the partitions of its topics.

    ``instance`` is new at each start, so an answer read at two addresses (the
    configured one and the registered one) is recognised as one worker's.
    """

    worker_id: str
    url: str
    partitions: int
    instance: str = field(default_factory=lambda: uuid.uuid4().hex)

    def part(self, counted: list[int]) -> dict[str, Any]:
        """What each view adds about this worker's share of the plans."""
        return {
            "worker": {"id": self.worker_id, "url": self.url, "instance": self.instance},
            "counted": counted,
            "partitions_total": self.partitions,
        }


def counted(indexed: frozenset[int], owned: Iterable[int]) -> list[int]:
    """The partitions this worker's counts and plans stand for now.

    Those indexed, while it still holds all of them. A partition taken away in
    a rebalance stays in the counts until the next tick indexes again, and by
    then its new owner may count it too, so until then the worker stands for
    none; a partition given to it counts once it is recovered and indexed.
    """
    return sorted(indexed) if indexed <= set(owned) else []


class Registration:
    """This worker's record on the workers topic (:mod:`services.shared.workers`).

    Neither method raises: a record the broker does not take within ``timeout``
    seconds is logged, and the ops tools then reach the worker only at the
    address they are configured with.
    """

    def __init__(self, member: Member, clock: Clock, send: Send, timeout: float = 5.0) -> None:
        self._member = member
        self._clock = clock
        self._send = send
        self._timeout = timeout

    async def join(self) -> None:
        """Say where this worker's views answer (once its tables are recovered)."""
        record = WorkerRegistered(
            worker_id=self._member.worker_id,
            url=self._member.url,
            registered_at=self._clock.now(),
        )
        await self._write(encode(record), "registered")

    async def leave(self) -> None:
        """Take the record back (a clean stop), so the ops tools stop asking."""
        await self._write(None, "unregistered")

    async def _write(self, value: bytes | None, done: str) -> None:
        member = self._member
        try:
            await asyncio.wait_for(self._send(member.url.encode(), value), self._timeout)
        except Exception as exc:  # the worker runs on without it
            log.warning("worker %s not %s at %s (%s)", member.worker_id, done, member.url, exc)
            return
        log.info("worker %s %s at %s", member.worker_id, done, member.url)
