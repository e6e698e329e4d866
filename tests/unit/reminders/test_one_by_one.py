"""``one_by_one``: held changelog records are sent at the end of each batch, or released."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import faust
from faust.streams import current_event

from services.reminders.worker.batches import one_by_one


class Event:
    def __init__(self, value: int) -> None:
        self.value = value


class Batches:
    """A stand-in for a Faust stream's ``take_events``: fixed batches, and which were acked."""

    def __init__(self, log: list[str], *batches: list[int]) -> None:
        self.log = log
        self.batches = [[Event(v) for v in batch] for batch in batches]

    async def take_events(self, batch_max: int, within: float) -> AsyncIterator[list[Event]]:
        for batch in self.batches:
            try:
                yield batch
            finally:  # as Faust's: a batch is acknowledged however it ends
                self.log.append(f"acked {[e.value for e in batch]}")


class Held:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def send_held(self) -> None:
        self.log.append("sent")

    def release_held(self) -> None:
        self.log.append("released")


def test_each_batch_sends_its_held_records_before_it_is_acknowledged() -> None:
    log: list[str] = []
    stream = Batches(log, [1, 2], [3])

    async def main() -> None:
        async for event in one_by_one(cast(faust.StreamT[Any], stream), Held(log)):
            assert current_event() is event
            log.append(f"handled {cast(Event, event).value}")

    asyncio.run(main())
    assert log == [
        "handled 1",
        "handled 2",
        "sent",
        "released",
        "acked [1, 2]",
        "handled 3",
        "sent",
        "released",
        "acked [3]",
    ]


def test_a_batch_that_ends_early_releases_its_held_records_before_it_is_acknowledged() -> None:
    log: list[str] = []
    stream = Batches(log, [1, 2, 3])

    async def main() -> None:
        events = one_by_one(cast(faust.StreamT[Any], stream), Held(log))
        async for event in events:
            log.append(f"handled {cast(Event, event).value}")
            if event.value == 2:
                break  # the agent stops mid-batch
        await cast(Any, events).aclose()

    asyncio.run(main())  # closes the batch source too, as a stopping worker's loop does
    assert log == ["handled 1", "handled 2", "released", "acked [1, 2, 3]"]
