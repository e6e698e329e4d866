"""Clinics' own ingress topics, relayed to the bookings topic with the clinic forced.

A clinic that produces to Kafka directly may write only
``clinic.ingress.{clinic_id}.v1`` (its Kafka user's ACLs,
:mod:`services.shared.kafka_grants`). What it writes there is checked here as
the worker would check it, made that clinic's whatever clinic it names
(envelope and booking), and published to ``clinic.bookings.v1`` keyed by
patient. ``patient.erased`` is refused: an erasure goes through the booking
API, which checks who asks and keeps the audit trail. Anything refused goes to
``clinic.bookings.dlq.v1`` with its reason.

At least once: offsets are committed only after the broker acknowledged every
record the batch produced; the worker handles a booking event seen twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kafka import KafkaConsumer, KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError

from services.shared.background import Retrying
from services.shared.clock import Clock
from services.shared.events import BookingEvent, DeadLetter, InvalidEvent, decode, encode
from services.shared.kafka_access import KafkaAccess
from services.shared.topics import Topics

SERVICE = "booking"
REFUSED_TYPES = {
    "patient.erased": "a clinic's topic cannot erase a patient: use DELETE /v1/patients/... "
    "on the booking API, which records who asked",
}


class Refused(ValueError):
    """Not relayed; the message is the dead letter's reason."""


def relayed(clinic_id: str, raw: bytes) -> BookingEvent:
    """The booking event in ``raw``, made ``clinic_id``'s; :class:`Refused` saying why not."""
    try:
        kind = json.loads(raw).get("type") if raw else None
    except (ValueError, AttributeError):
        kind = None
    if isinstance(kind, str) and kind in REFUSED_TYPES:
        raise Refused(f"{kind}: {REFUSED_TYPES[kind]}")
    try:
        event = decode(BookingEvent, raw)
    except InvalidEvent as exc:
        raise Refused(f"not a booking event: {exc}") from exc
    data = event.data.model_copy(update={"clinic_id": clinic_id})
    return event.model_copy(update={"clinic_id": clinic_id, "data": data})


LOOK_SECONDS = 10.0
"""How often the relay looks for clinics' new ingress topics."""


class IngressRelay(Retrying):
    """Follows every clinic's ingress topic in the booking service's own group, on a thread."""

    name = "ingress relay"
    retryable = (KafkaError, OSError, RuntimeError)

    def __init__(
        self,
        kafka: KafkaAccess,
        topics: Topics,
        group_id: str,
        clock: Clock,
        prepare: Callable[[], None] = lambda: None,
        poll_ms: int = 200,
    ) -> None:
        """``prepare`` runs before each connection (e.g. creates the platform's topics)."""
        self._kafka = kafka
        self._topics = topics
        self._group = group_id
        self._clock = clock
        self._prepare = prepare
        self._poll_ms = poll_ms
        super().__init__()

    def follow(self) -> None:
        self._prepare()
        consumer = KafkaConsumer(
            **self._kafka.client_options(),
            group_id=self._group,
            client_id="clinic-booking-ingress",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=10_000,
        )
        producer = KafkaProducer(
            **self._kafka.client_options(), client_id="clinic-booking-ingress", acks="all"
        )
        try:
            self._relay_all(consumer, producer)
        finally:
            producer.close(timeout=2)
            consumer.close(timeout_ms=2000)

    def _relay_all(self, consumer: KafkaConsumer, producer: KafkaProducer) -> None:
        """Until stopped: looks for clinics' topics every :data:`LOOK_SECONDS` and follows
        them by name (no group is joined while there are none), relaying what they hold."""
        followed: list[str] = []
        next_look = 0.0
        while not self.stopping.is_set():
            if time.monotonic() >= next_look:
                followed = self._follow_found(consumer, followed)
                next_look = time.monotonic() + LOOK_SECONDS
            if not followed:
                self.stopping.wait(self._poll_ms / 1000)
                continue
            fetched = consumer.poll(timeout_ms=self._poll_ms)
            if fetched:
                for records in fetched.values():
                    for record in records:
                        self._relay(producer, record)
                producer.flush()
                consumer.commit()

    def _follow_found(self, consumer: KafkaConsumer, followed: list[str]) -> list[str]:
        found = sorted(t for t in consumer.topics() if self._topics.ingress_clinic(t))
        if found != followed:
            if found:
                consumer.subscribe(topics=found)
            else:
                consumer.unsubscribe()
        return found

    def _relay(self, producer: KafkaProducer, record: ConsumerRecord) -> None:
        clinic = self._topics.ingress_clinic(record.topic)
        try:
            if clinic is None:
                raise Refused(f"{record.topic} is no clinic's ingress topic")
            event = relayed(clinic, record.value or b"")
        except Refused as exc:
            letter = DeadLetter.of(SERVICE, record, str(exc), self._clock.now())
            producer.send(self._topics.bookings_dlq, key=record.key, value=encode(letter))
            return
        producer.send(self._topics.bookings, key=event.key.encode(), value=encode(event))
