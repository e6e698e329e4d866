"""Table recovery that survives a broker which forgot the changelog.

Faust keeps, in the worker's RocksDB store, the changelog offset its local
plans are current to. When the changelog ends below that offset (the embedded
broker keeps nothing when it stops; an Apache Kafka topic was deleted or
truncated), Faust refuses to start (``ConsistencyError``) on every restart, or,
when the stored offset is 0, silently keeps plans that no changelog backs.

This recovery discards the local store of each such partition instead, reads
whatever the changelog still holds, and reports the partitions lost (the
worker then asks the booking service for a resync, which rebuilds every plan
from the booking store). Everything else is Faust's own recovery.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from faust.tables.recovery import Recovery
from faust.types import TP, ConsumerT
from kafka import TopicPartition

from services.reminders.worker.transport import broker_access
from services.shared.offsets import read_true_ends

log = logging.getLogger("clinic.reminders")

OnLost = Callable[[dict[TP, tuple[int, int]]], Awaitable[None]]
"""Called with each lost partition's (stored offset, changelog's last offset)."""


class CheckedRecovery(Recovery):
    """Faust's recovery, which discards local state that is ahead of its changelog."""

    def __init__(self, *args: Any, on_lost: OnLost, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_lost = on_lost

    async def _build_offsets(
        self, consumer: ConsumerT, tps: set[TP], destination: Counter[TP], title: str
    ) -> None:
        await super()._build_offsets(consumer, tps, destination, title)
        if title != "active":
            return  # the worker keeps no standby replicas
        lost = {
            tp: (destination[tp], self.active_highwaters.get(tp, -1))
            for tp in tps
            if destination[tp] >= 0 and destination[tp] > self.active_highwaters.get(tp, -1)
        }
        lost = await self._confirmed(lost)
        if not lost:
            return
        for tp in lost:
            discard_partition(getattr(self.tp_to_table[tp], "data", None), tp.partition)
            destination[tp] = -1  # read all the changelog still holds
        await self._on_lost(lost)

    async def _confirmed(self, lost: dict[TP, tuple[int, int]]) -> dict[TP, tuple[int, int]]:
        """Those of ``lost`` still ahead of their changelog's end, read again without hurry.

        The exact end of a changelog that is not empty comes from reading its last
        batch, within a few seconds; on a busy machine that read can give up and
        leave the broker's short figure, which must not cost a partition its plans.
        """
        again = {TopicPartition(tp.topic, tp.partition): end + 1 for tp, (_, end) in lost.items()}
        if not any(end > 0 for end in again.values()):
            return lost  # every one of them empty: nothing to read
        kafka = broker_access(self.app)
        ends = await asyncio.to_thread(read_true_ends, kafka, again, CONFIRM_SECONDS)
        return {
            tp: (stored, ends[TopicPartition(tp.topic, tp.partition)] - 1)
            for tp, (stored, _) in lost.items()
            if stored > ends[TopicPartition(tp.topic, tp.partition)] - 1
        }


CONFIRM_SECONDS = 20.0
"""How long the second look at a changelog's end may take."""


def discard_partition(store: Any, partition: int) -> None:
    """Close and delete a RocksDB store's database of one partition; a new one opens on use."""
    dbs = getattr(store, "_dbs", None)
    if dbs is None:  # a memory store: nothing outlives the process
        return
    db = dbs.pop(partition, None)
    if db is not None:
        db.close()
    store._key_index.clear()
    shutil.rmtree(store.partition_path(partition), ignore_errors=True)


def use_checked_recovery(app: Any, on_lost: OnLost) -> None:
    """Give ``app``'s tables the checked recovery; before the app starts."""
    tables = app.tables
    tables._recovery = CheckedRecovery(
        app, tables, beacon=tables.beacon, loop=tables.loop, on_lost=on_lost
    )
