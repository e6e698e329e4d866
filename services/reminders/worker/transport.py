"""Faust's Kafka transport, with a cheaper hand-off and, on Tansu, exact end offsets.

**Hand-off.** Faust's consumer hands each fetched record to the streams by
racing its delivery against a rebalance (``wait_first``): four tasks and a
turn of the event loop per record, about a tenth of the worker's time. Almost
every delivery is a put into a queue with room, which never waits. This
consumer starts each delivery at once and races it only when it has to wait
(a full queue, a paused flow, a full producer buffer), so the common case
costs one call and the rare case behaves as Faust's.

**End offsets.** A worker rebuilds its table from the changelog after a
restart or rebalance, reading each changelog partition up to the end offset
the broker reports. Tansu reports the last batch's base offset + 1, so with
batched changelog writes Faust would stop short and lose the last writes of
each partition. On Tansu the consumer corrects those end offsets by reading
each partition's last batch (:mod:`services.shared.offsets`), so the producer
keeps normal batching and recovery still reads every write. On Apache Kafka
it is not needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Coroutine, Mapping
from typing import Any, TypeVar, cast

import faust
from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as driver
from faust.types import TP, Message
from kafka import TopicPartition
from mode import Service, ServiceT

from services.shared.kafka_access import KafkaAccess
from services.shared.offsets import read_true_ends

T = TypeVar("T")

YIELD_EVERY = 100
"""Records delivered before the drain loop lets other tasks run (as Faust's does)."""


class EagerConsumer(driver.Consumer):
    """Faust's consumer, whose deliveries race a rebalance only when they have to wait."""

    deliveries_waited = 0
    """Deliveries that had to wait and so were raced against a rebalance, since start."""

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """Faust's drain loop (``Consumer._drain_messages``) with :meth:`_deliver` for the race."""
        fetcher_stopped = cast(Service, fetcher)._stopped.is_set
        stopped = self._stopped.is_set
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        stopping: tuple[type[BaseException], ...] = (
            *self.consumer_stopped_errors,
            asyncio.CancelledError,
        )
        since_yield = 0
        try:
            while not (stopped() or fetcher_stopped()):
                self.diag.set_flag(CONSUMER_FETCHING)
                fetched = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany can return at once, again and again
                if self.should_stop:
                    continue
                async for tp, message in fetched:
                    since_yield += 1
                    if since_yield > YIELD_EVERY:
                        await asyncio.sleep(0)
                        since_yield = 0
                    offset = message.offset
                    last = read_offset[tp]
                    if last is not None and offset < last:
                        continue  # already delivered before a seek
                    if last and offset - last > 1 and acks_enabled_for(message.topic):
                        await self._add_gap(tp, last + 1, offset)
                    if self._commit_every is not None and self._n_acked >= self._commit_every:
                        self._n_acked = 0
                        await self.commit()
                    await self._deliver(message)
                    read_offset[tp] = offset
                self.diag.unset_flag(CONSUMER_FETCHING)
        except stopping:
            if self.transport.app.should_stop:
                self.log.info("Consumer stopped while stopping, as asked")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, message: Message) -> None:
        """Hand ``message`` to its streams; if that has to wait, race it against a rebalance."""
        delivery = cast(Coroutine[Any, Any, None], self.callback(message))
        try:
            waiting = delivery.send(None)
        except StopIteration:
            return  # delivered without waiting: the common case
        self.deliveries_waited += 1
        await self.wait_first(_finish(delivery, waiting), self.suspend_flow.wait())


async def _finish(started: Coroutine[Any, Any, T], waiting: Any) -> T:
    """Run ``started`` on from where it first waited (on ``waiting``), as a task would.

    A cancelled task cancels the future its coroutine waits on; when that
    future could not be cancelled (it was done), the cancellation is raised
    inside the coroutine instead.
    """
    while True:
        resume = started.send
        argument: Any = None
        if waiting is not None:
            waiting._asyncio_future_blocking = False  # taken over, as a task takes it
        try:
            await (asyncio.sleep(0) if waiting is None else cast(Awaitable[Any], waiting))
        except asyncio.CancelledError as exc:
            if waiting is None or not waiting.cancelled():
                resume, argument = started.throw, exc
        except BaseException:  # the coroutine reads the future's error itself
            pass
        try:
            waiting = resume(argument)
        except StopIteration as stop:
            return cast(T, stop.value)


class ExactEndsConsumer(EagerConsumer):
    """The eager consumer, whose end offsets (highwaters) include the whole last batch."""

    async def highwaters(self, *partitions: TP) -> Mapping[TP, int]:
        reported = await super().highwaters(*partitions)
        kafka = broker_access(self.app)
        asked = {TopicPartition(tp.topic, tp.partition): end for tp, end in reported.items()}
        ends = await asyncio.to_thread(read_true_ends, kafka, asked)
        return {TP(tp.topic, tp.partition): end for tp, end in ends.items()}


def broker_access(app: Any) -> KafkaAccess:
    """Every broker ``app`` knows, and its login, for a plain kafka-python client.

    All of them: on a cluster the first may be the one that is down.
    """
    bootstrap = ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker_consumer)
    login = app.conf.broker_credentials
    if login is None:
        return KafkaAccess(bootstrap)
    plain = KafkaAccess(bootstrap, login.protocol.value, login.mechanism.value)
    return plain.as_user(login.username, login.password)


class EagerTransport(driver.Transport):
    Consumer = EagerConsumer


class ExactEndsTransport(driver.Transport):
    Consumer = ExactEndsConsumer


def use_worker_transport(app: faust.App, exact_ends: bool) -> None:
    """Give ``app`` the eager consumer, reading exact end offsets if asked; before it starts."""
    transport = ExactEndsTransport if exact_ends else EagerTransport
    app.transport = transport(app.conf.broker_consumer, app)
