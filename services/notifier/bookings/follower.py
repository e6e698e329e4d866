"""Follows the booking events into the notifier's own store, on a thread of its own.

It reads every partition of ``clinic.bookings.v1`` (no consumer group: every
notifier keeps a whole view) and writes each booking's latest state with the
offsets read (:class:`bookings_seen.BookingsSeen`). Delivery reads that store
right before a send; the consumer loop first waits, briefly, until the follower
has read everything the booking topic held when the due reminders were fetched,
so that a cancel published before its reminder was emitted is known before the
reminder goes out (and one published while it was held, for quiet hours or a
retry, is known too: the follower keeps reading meanwhile).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from services.notifier.bookings.seen import BookingsSeen
from services.shared.background import Repeats
from services.shared.erasure import PatientErased, decode_booking_topic
from services.shared.events import BookingEvent, InvalidEvent
from services.shared.kafka_access import KafkaAccess, access_of
from services.shared.offsets import true_ends

log = logging.getLogger(__name__)


class BookingFollower:
    """Reads booking events until :meth:`stop`; says how current it is."""

    def __init__(
        self,
        kafka: KafkaAccess | str,
        topic: str,
        partitions: int,
        seen: BookingsSeen,
        poll_ms: int = 100,
        on_erased: Callable[[PatientErased], object] | None = None,
        forgetful_broker: bool = False,
    ) -> None:
        """``forgetful_broker``: the embedded broker, which keeps nothing across its
        restarts, so that a topic shorter than read before is expected there."""
        self._forgetful = forgetful_broker
        self._on_erased = on_erased
        self._kafka = access_of(kafka)
        self._topic = topic
        self._parts = [TopicPartition(topic, p) for p in range(partitions)]
        self._seen = seen
        self._poll_ms = poll_ms
        self._stopping = threading.Event()
        self._current = threading.Condition()
        self._current_as_of = 0.0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Follow in a background thread; returns at once."""
        self._thread = threading.Thread(target=self._run, name="booking-follower", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def wait_current(self, since: float, timeout: float = 2.0) -> bool:
        """Block until everything on the topic at ``since`` (a Unix time) has been read.

        Returns False when ``timeout`` seconds pass first (the broker is slow
        or gone): the caller goes on with what is known.
        """
        with self._current:
            return self._current.wait_for(lambda: self._current_as_of >= since, timeout)

    def _run(self) -> None:
        repeats = Repeats()
        while not self._stopping.is_set():
            try:
                self._follow()
            except (KafkaError, SQLAlchemyError, OSError) as exc:
                log.log(repeats.level(), "booking follower: %s; reading again in 1s", exc)
                self._stopping.wait(1.0)
            except Exception:  # a fault of ours: said loudly, and never the end of the thread
                log.exception("booking follower failed; reading again in 1s")
                self._stopping.wait(1.0)

    def _follow(self) -> None:
        consumer = KafkaConsumer(
            **self._kafka.client_options(),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="clinic-notifier-bookings",
            fetch_max_wait_ms=self._poll_ms,
        )
        try:
            self._seek(consumer)
            while not self._stopping.is_set():
                self._step(consumer)
        finally:
            consumer.close()

    def _seek(self, consumer: KafkaConsumer) -> None:
        consumer.assign(self._parts)
        stored = self._seen.offsets(self._topic)
        ends = true_ends(consumer, consumer.end_offsets(self._parts))
        consumer.assign(self._parts)
        if any(stored.get(tp.partition, 0) > ends[tp] for tp in self._parts):
            say = log.info if self._forgetful else log.warning
            say("booking follower: %s is shorter than read before; reading it all", self._topic)
            self._seen.forget_offsets(self._topic)
            stored = {}
        for tp in self._parts:
            consumer.seek(tp, stored.get(tp.partition, 0))

    def _step(self, consumer: KafkaConsumer) -> None:
        began = time.time()  # compared with record timestamps, which are Unix times
        fetched = consumer.poll(timeout_ms=self._poll_ms)
        events: list[BookingEvent] = []
        for records in fetched.values():
            for record in records:
                try:
                    event = decode_booking_topic(record.value or b"")
                except InvalidEvent:
                    continue  # the worker dead-letters what it cannot read
                if isinstance(event, BookingEvent):
                    events.append(event)
                    continue
                self._seen.record(events, {})  # what came before it first
                events = []
                if self._on_erased is not None:
                    self._on_erased(event)
        if fetched:
            offsets = {(tp.topic, tp.partition): consumer.position(tp) for tp in fetched}
            self._seen.record(events, offsets)
        if self._read_to_end(consumer):
            with self._current:
                self._current_as_of = began
                self._current.notify_all()

    def _read_to_end(self, consumer: KafkaConsumer) -> bool:
        for tp in self._parts:
            end = consumer.highwater(tp)  # from the latest fetch; None before the first
            if end is None or consumer.position(tp) < end:
                return False
        return True
