"""The outbox relay: publishes stored booking events to Kafka, in order, never skipping one.

At-least-once: a row is marked published only after the broker acknowledged
it (``acks="all"``); a crash between the two republishes it, and consumers are
idempotent. One request in flight per connection keeps each partition, and so
each patient's events, in outbox order.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from services.booking.publishing.broker_memory import BrokerMemory
from services.booking.store.lease import lease_for
from services.booking.store.outbox import OutboxRecord
from services.booking.store.store import BookingStore
from services.shared.background import Repeats
from services.shared.clock import Clock
from services.shared.kafka_access import KafkaAccess, access_of
from services.shared.metrics import PlatformMetrics

log = logging.getLogger(__name__)


def _any_reachable(bootstrap: str, timeout: float) -> None:
    # Kafka clients (and topic creation) can block for their whole bootstrap timeout
    # when nothing listens; a plain connect fails at once, so a down broker costs
    # one quick check per retry and the relay stops promptly when asked.
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
            return
        except (OSError, ValueError):
            continue
    raise OSError(f"nothing listens at {bootstrap}")


class RelayUnavailable(Exception):
    """Retryable: the broker could not be reached or did not acknowledge; back off."""


class OutboxRelay:
    """Moves outbox rows to the broker, from a background thread or step by step.

    Args:
        prepare: run once before the first publish (e.g. create the topics) and
            again after each failure until it succeeds.
    """

    def __init__(
        self,
        store: BookingStore,
        kafka: KafkaAccess | str,
        clock: Clock,
        *,
        poll_seconds: float = 0.2,
        batch_size: int = 500,
        max_backoff_seconds: float = 5.0,
        timeout_seconds: float = 10.0,
        prepare: Callable[[], None] | None = None,
        metrics: PlatformMetrics | None = None,
        memory: BrokerMemory | None = None,
    ) -> None:
        self._memory = memory
        self._metrics = metrics
        self._store = store
        self._lease = lease_for(store.engine)
        self._kafka = access_of(kafka)
        self._bootstrap = self._kafka.bootstrap
        self._clock = clock
        self._poll = poll_seconds
        self._batch = batch_size
        self._max_backoff = max_backoff_seconds
        self._timeout = timeout_seconds
        self._prepare = prepare
        self._producer: KafkaProducer | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def publish_pending(self) -> int:
        """Publish up to one batch of unpublished rows in id order; return how many.

        Publishes nothing (returns 0) while another relay holds the outbox lease.
        The lease holder first checks, now and then, that the broker still
        remembers the store (``memory``), queuing a resync if it does not.

        Blocks until the broker acknowledged the batch, or ``timeout_seconds``.

        Raises:
            RelayUnavailable: the broker failed; rows before the first failure are
                marked published, that row and every later one stay pending.
        """
        if not self._lease.acquire():
            return 0
        if self._memory is not None and self._memory.due():
            self._memory.check(self._connected())  # never raises: see BrokerMemory.check
        records = self._store.outbox.pending(self._batch)
        if not records:
            return 0
        producer = self._connected()
        acked = self._send(producer, records)
        self._store.outbox.mark_published([r.id for r in records[:acked]], self._clock.now())
        if self._metrics is not None:
            for record in records[:acked]:
                self._metrics.record_produced(record.topic)
        if acked < len(records):
            self._drop_producer()
            raise RelayUnavailable(
                f"broker at {self._bootstrap} acknowledged {acked} "
                f"of {len(records)} events; retrying"
            )
        return acked

    def _send(self, producer: KafkaProducer, records: list[OutboxRecord]) -> int:
        """Rows acknowledged, in order, within ``timeout_seconds`` for the whole batch.

        One deadline for the batch, not kafka-python's ``flush``: that waits up to
        its timeout for each batch in turn, and on a cluster whose leader just died
        the relay was seen stuck in it for minutes while bookings waited.
        """
        futures = [producer.send(r.topic, key=r.key.encode(), value=r.payload) for r in records]
        deadline = time.monotonic() + self._timeout
        for acked, future in enumerate(futures):
            try:
                future.get(timeout=max(0.01, deadline - time.monotonic()))
            except KafkaError as exc:
                log.warning("outbox row %s not published: %s", records[acked].id, exc)
                return acked
        return len(records)

    def _connected(self) -> KafkaProducer:
        if self._producer is not None:
            return self._producer
        try:
            _any_reachable(self._bootstrap, min(self._timeout, 2.0))
            if self._prepare is not None:
                self._prepare()
            self._producer = KafkaProducer(**self._producer_config())
        except (KafkaError, OSError, RuntimeError) as exc:
            raise RelayUnavailable(f"no broker at {self._bootstrap}: {exc}") from exc
        return self._producer

    def _producer_config(self) -> dict[str, Any]:
        timeout_ms = int(self._timeout * 1000)
        return {
            **self._kafka.client_options(),
            "client_id": "clinic-booking-relay",
            "acks": "all",
            "max_in_flight_requests_per_connection": 1,
            "request_timeout_ms": min(timeout_ms, 5000),
            "delivery_timeout_ms": timeout_ms,
            "max_block_ms": timeout_ms,
            "bootstrap_timeout_ms": min(timeout_ms, 3000),
        }

    def _drop_producer(self) -> None:
        # Abort what the old producer still holds, so that nothing it queued can land
        # after the rows the next attempt sends again.
        if self._producer is not None:
            self._producer.close(timeout=0)
            self._producer = None

    def wake(self) -> None:
        """Ask the background thread to publish now rather than at its next poll."""
        self._wake.set()

    def start(self) -> None:
        """Publish in a background thread until :meth:`stop`; returns at once."""
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the thread (after its current batch) and close the producer."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None
        self._lease.release()

    def _run(self) -> None:
        backoff = self._poll
        repeats = Repeats()
        while not self._stopping.is_set():
            try:
                published = self._step()
                backoff = self._poll
                repeats.mended()
            except RelayUnavailable as exc:
                log.log(repeats.level(), "%s; next try in %.1fs", exc, backoff)
                published = 0
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                continue
            if published < self._batch:
                self._wake.wait(self._poll)
                self._wake.clear()

    def _step(self) -> int:
        try:
            self._connected()
            return self.publish_pending()
        except RelayUnavailable:
            raise
        except Exception as exc:
            self._drop_producer()
            raise RelayUnavailable(f"outbox could not be read or marked: {exc}") from exc
