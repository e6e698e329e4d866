"""Every change the platform makes to kafka-python, in one place, applied at start-up.

Written against the version in :data:`PINNED`; a test fails when the installed
version differs and names :data:`PATCHES` to re-check against the new code.

**Resumed partitions fetch again** (``Fetcher.fetched_records``).

kafka-python 3.0 keeps records already fetched for a partition that is paused
("parked", as Kafka's own consumer does since KAFKA-7548) and hands them back
once the partition is resumed. It looks for parked records to hand back only
while its in-line slot is empty, but a slot it has read to the end is left
holding an empty batch rather than nothing; from then on a resumed partition
never gets its parked records back, and since parked records also keep the
partition from being fetched, it is never fetched again. The notifier pauses
a partition for a clinic's quiet hours: without this fix its reminders stayed
undelivered after the quiet hours ended (the last test of
tests/integration/notifier/test_notifier_loop.py shows it).

The fix empties a read-out slot before each fetch of records, which is what
the consumer means to do there. Nothing changes on a client without parked
records.

**A connection closed while it waited to read is closed quietly**
(``KafkaTCPTransport._sock_recv``, and the SSL transport's).

A connection's read task waits for its socket to be readable, then reads. When
the client is closed meanwhile (a service stopping on Ctrl-C), the socket is
already gone by the time the task reads, and kafka-python logs "Error receiving
network data" with a traceback at ERROR, for a connection that closed as asked.
A read of a closed transport now returns at once with a connection error, which
the transport, already closed, ignores; a socket that fails while open is
reported as before.

**A producer closes even when its last records cannot be sent** (``KafkaProducer.close``).

``close(timeout)`` first flushes, and kafka-python's flush raises
``KafkaTimeoutError`` when records are still unsent at the timeout: close then
stops there, never stops its network thread, and hands the error to the caller.
With an Apache Kafka node gone, the booking relay's producer was left so (its
thread still retrying) and the booking service's shutdown ended in a traceback.
A flush that times out inside ``close`` now lets the close go on to stop the
thread (forcibly after the timeout), as Kafka's own producer does; the records
not sent are given up, which the outbox relay expects (they stay unpublished
in the outbox and are sent again by its next producer).
"""

from __future__ import annotations

import logging
from typing import Any

from kafka import KafkaProducer, errors
from kafka.consumer.fetcher import Fetcher
from kafka.net.transport import KafkaSSLTransport, KafkaTCPTransport

PINNED = {"kafka-python": "3.0.12"}
PATCHES = (
    "kafka.consumer.fetcher.Fetcher.fetched_records: a read-out slot is emptied",
    "kafka.net.transport.KafkaTCPTransport._sock_recv and KafkaSSLTransport._sock_recv: "
    "a transport closed while its read waited returns an error instead of reading None",
    "kafka.producer.kafka.KafkaProducer.close: a flush that times out does not stop the close",
)

_APPLIED = "_clinic_resumes_parked_records"
_QUIET = "_clinic_reads_closed_quietly"
_CLOSES = "_clinic_closes_after_a_timed_out_flush"
log = logging.getLogger(__name__)


def apply() -> None:
    """Apply every patch of this module, once per process (each service's start)."""
    resume_parked_fetches()
    close_reads_quietly()
    close_despite_unsent_records()


def resume_parked_fetches() -> None:
    """Patch kafka-python's fetcher, once per process, so resumed partitions fetch again."""
    if getattr(Fetcher, _APPLIED, False) or not hasattr(Fetcher, "fetched_records"):
        return
    fetched_records = Fetcher.fetched_records

    def fetched_records_with_slot_emptied(self: Any, *args: Any, **kwargs: Any) -> Any:
        slot = getattr(self, "_next_partition_records", None)
        if slot is not None and not slot:  # read to the end: nothing is in line
            self._next_partition_records = None
        return fetched_records(self, *args, **kwargs)

    Fetcher.fetched_records = fetched_records_with_slot_emptied
    setattr(Fetcher, _APPLIED, True)


def close_reads_quietly() -> None:
    """Patch kafka-python's transports, once per process, so a read after a close is quiet."""
    for transport in (KafkaTCPTransport, KafkaSSLTransport):
        if "_sock_recv" in vars(transport) and not getattr(transport, _QUIET, False):
            transport._sock_recv = _unless_closed(vars(transport)["_sock_recv"])
            setattr(transport, _QUIET, True)


def _unless_closed(sock_recv: Any) -> Any:
    def sock_recv_unless_closed(self: Any) -> tuple[bytes, Exception | None]:
        if self._sock is None:  # closed while the read waited: nothing to read, nothing wrong
            return b"", errors.KafkaConnectionError("transport closed")
        result: tuple[bytes, Exception | None] = sock_recv(self)
        return result

    return sock_recv_unless_closed


def close_despite_unsent_records() -> None:
    """Patch kafka-python's producer, once per process, so ``close`` always stops it."""
    if getattr(KafkaProducer, _CLOSES, False):
        return
    close = KafkaProducer.close

    def close_even_if_unsent(self: Any, timeout: float | None = None, **kwargs: Any) -> None:
        flush = self.flush

        def flush_or_give_up(flush_timeout: float | None = None) -> None:
            try:
                flush(flush_timeout)
            except errors.KafkaTimeoutError:
                log.warning("producer closed with records not sent within %ss", flush_timeout)

        self.flush = flush_or_give_up
        try:
            close(self, timeout, **kwargs)
        finally:
            del self.flush

    KafkaProducer.close = close_even_if_unsent
    setattr(KafkaProducer, _CLOSES, True)
