"""Faust's Kafka transport, with end offsets the embedded broker reports right.

A worker rebuilds its table from the changelog after a restart or rebalance,
reading each changelog partition up to the end offset the broker reports.
Tansu reports the last batch's base offset + 1, so with batched changelog
writes Faust would stop short and lose the last writes of each partition.
This transport corrects those end offsets by reading each partition's last
batch (:mod:`services.shared.offsets`), so the producer keeps normal batching
and recovery still reads every write. On Apache Kafka it is not needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import faust
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from kafka import TopicPartition

from services.shared.offsets import read_true_ends


class ExactEndsConsumer(driver.Consumer):
    """Faust's consumer, whose end offsets (highwaters) include the whole last batch."""

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        reported = await super().highwaters(*partitions)
        url = self.app.conf.broker_consumer[0]
        bootstrap = f"{url.host}:{url.port or 9092}"
        asked = {TopicPartition(tp.topic, tp.partition): end for tp, end in reported.items()}
        ends = await asyncio.to_thread(read_true_ends, bootstrap, asked)
        return {TP(tp.topic, tp.partition): end for tp, end in ends.items()}


class ExactEndsTransport(driver.Transport):
    Consumer = ExactEndsConsumer


def use_exact_ends(app: faust.App) -> None:
    """Make ``app`` read exact changelog end offsets; call before the app starts."""
    app.transport = ExactEndsTransport(app.conf.broker_consumer, app)
