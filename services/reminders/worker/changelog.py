"""The patients table, whose changelog records are sent once per batch of events.

Faust sends each table write to the changelog on its own: a future, a place in
its producer buffer, a task that hands it to the Kafka producer, and a RocksDB
write of the changelog offset once the broker has it. A busy worker writes a
plan per booking event, so that was about a sixth of its time. This table
holds a batch's changelog records (the store is written at once, as before)
and the agent hands them to the producer at the end of the batch, in the order
written, before the batch is acknowledged (:func:`batches.one_by_one`). The
changelog offset is then recorded once per partition per batch: the last one,
which is what Faust's per-record writes came to.

Nothing is lost that Faust's own path would keep. A batch is acknowledged only
once its records are with the producer, and Faust flushes the producer before
it commits what was acknowledged; a worker killed mid-batch is given the
whole batch again and writes the same plans again. If a batch ends any other
way (the agent stopped mid-batch), its held records go through Faust's own
buffered path (:meth:`HeldChangelogTable.release_held`), which needs no await.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any, cast

import faust
from faust.types import TP, TableT

log = logging.getLogger("clinic.reminders")

Held = tuple[int, Any, Any]
"""A changelog record not yet sent: partition, key, value (None: deleted)."""


class HeldChangelogTable(faust.Table):  # type: ignore[type-arg]
    """Faust's table, whose changelog records wait for :meth:`send_held`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._held: list[Held] = []

    def on_key_set(self, key: Any, value: Any) -> None:
        self._held.append((self._partition_of(key), key, value))
        self._sensor_on_set(self, key, value)

    def on_key_del(self, key: Any) -> None:
        self._held.append((self._partition_of(key), key, None))
        self._sensor_on_del(self, key)

    @property
    def held(self) -> int:
        """Changelog records written to the store but not yet handed to the producer."""
        return len(self._held)

    async def send_held(self) -> None:
        """Hand the held records to the producer, in the order they were written."""
        if not self._held:
            return
        held, self._held = self._held, []
        topic = self.changelog_topic.get_topic_name()
        last: dict[int, asyncio.Future[Any]] = {}
        for index, (partition, key, value) in enumerate(held):
            try:
                sent = await self._send(topic, partition, key, value)
            except BaseException:  # stopped mid-way: what was not handed over is held again
                self._held[:0] = held[index:]
                raise
            last[partition] = sent
        for partition, future in last.items():
            future.add_done_callback(partial(self._on_last_sent, TP(topic, partition)))

    async def _send(self, topic: str, partition: int, key: Any, value: Any) -> asyncio.Future[Any]:
        serializers = self.app.serializers
        sent = await self.app.producer.send(
            topic,
            serializers.dumps_key(self.key_type, key, serializer=self.key_serializer),
            None
            if value is None
            else serializers.dumps_value(self.value_type, value, serializer=self.value_serializer),
            partition,
            None,
            None,
        )
        return cast(asyncio.Future[Any], sent)

    def release_held(self) -> None:
        """Send the held records through Faust's own buffered path (no await needed)."""
        held, self._held = self._held, []
        if held:
            log.info(
                "batch ended early: %d changelog records sent through Faust's buffer", len(held)
            )
        for partition, key, value in held:
            if value is None:
                self.send_changelog(partition, key, None, value_serializer="raw")
            else:
                self.send_changelog(partition, key, value)

    def _verify_source_topic_partitions(self, source_topic: str) -> None:
        """Faust's co-partitioning check, taken only when both counts are known.

        While an Apache Kafka node is down the consumer's metadata can list the
        changelog with no partitions for a moment; Faust took that for a mismatch
        and the booking being planned was dead-lettered (seen on a three-node
        cluster losing its controller). A count of 0 is not known yet: the check
        waits for a later write, as Faust's own does for a topic it has not seen.
        """
        consumer = self.app.consumer
        known = (
            consumer.topic_partitions(source_topic),
            consumer.topic_partitions(self.changelog_topic_name),
        )
        if all(known):
            super()._verify_source_topic_partitions(source_topic)

    def _partition_of(self, key: Any) -> int:
        partition = self.partition_for_key(key)
        if partition is None:  # only with use_partitioner, which this table never sets
            raise TypeError(f"table {self.name} writes only to the current event's partition")
        return partition

    def _on_last_sent(self, tp: TP, future: asyncio.Future[Any]) -> None:
        """Record the changelog offset the store is now current to (as Faust does per record)."""
        if future.cancelled() or future.exception() is not None:
            return  # the store's offset stays older: recovery reads a little more
        offset = future.result().offset
        if self.app.in_transaction:
            self.app.tables.persist_offset_on_commit(self.data, tp, offset)
        else:
            self.data.set_persisted_offset(tp, offset)


def held_changelog_table(app: faust.App, name: str, **options: Any) -> HeldChangelogTable:
    """A :class:`HeldChangelogTable` registered with ``app``, as ``app.Table`` registers one."""
    table = HeldChangelogTable(app, name=name, beacon=app.tables.beacon, **options)
    app.tables.add(cast(TableT[Any, Any], table))
    return table
