"""A Faust stream's events taken in batches and handed on one by one.

Faust hands an agent its events one at a time, with several hand-offs each
(queues, futures, an ack). Taking them in batches (``take_events``) spares
most of that: the worker plans about 60% more bookings a second. Each event is
then made the *current* one while it is handled, because a table write goes
to the store and changelog partition of the current event.

Only the context variable that the table reads is set, never the stream's own
``current_event`` attribute: ``take_events`` fills its next batch by reading
that attribute, which its reader sets just before. Setting it from the agent
while the reader waited (the agent awaits while sending due reminders) made
the reader file the wrong event: one event was handled twice and the next
never (63 of 20,000 in a probe; the fault run lost reminders). See
docs/decisions.md.
"""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from typing import Any, Protocol, cast

import faust
from faust.streams import _current_event
from faust.types import EventT

BATCH_MAX = 500
"""Events taken at once, at most."""
BATCH_WAIT_SECONDS = 0.02
"""How long a batch waits to fill: the most a quiet stream's event is held back."""


class HeldWrites(Protocol):
    """Table writes held while a batch is handled (see changelog.py)."""

    async def send_held(self) -> None: ...

    def release_held(self) -> None: ...


async def one_by_one(
    stream: faust.StreamT[Any],
    held: HeldWrites | None = None,
    batch_max: int = BATCH_MAX,
    within: float = BATCH_WAIT_SECONDS,
) -> AsyncIterator[EventT[Any]]:
    """Each event of ``stream`` in order, taken in batches, made current while it is handled.

    A batch is acknowledged once every event of it has been handled and the
    changelog records it ``held`` are sent, so a worker killed mid-batch is
    given the whole batch again (at least once). Should the batch end any
    other way, its held records are released before Faust acknowledges it.
    """
    batched = cast(faust.Stream[Any], stream)  # Faust's own stream: batches are its API
    async for events in batched.take_events(batch_max, within=within):
        try:
            for event in events:
                _current_event.set(weakref.ref(event))
                yield event
            _current_event.set(None)
            if held is not None:
                await held.send_held()
        finally:
            _current_event.set(None)
            if held is not None:
                held.release_held()
