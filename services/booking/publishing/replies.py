"""Patients' confirmations by text, from ``clinic.replies.v1`` into the booking store.

The notifier publishes what a patient asked for (:class:`PatientReplied`); this
records each confirmation as ``booking.confirmed`` through the booking service,
the same path as a cancel (snapshot, history and outbox in one transaction), so
the relay publishes it and the booking's events show it.

At least once: offsets are committed after the batch is recorded, and each
reply is recorded once per Twilio MessageSid (the store's idempotency keys), so
a batch read again changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka import KafkaConsumer
from kafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from services.booking.errors import BookingError, Conflict
from services.booking.service import BookingService
from services.booking.store.store import Recorded
from services.shared.background import Retrying
from services.shared.events import InvalidEvent, PatientReplied, ReplyIntent, decode
from services.shared.kafka_access import KafkaAccess, access_of

log = logging.getLogger(__name__)
SOURCE = "sms-reply"


class Confirmations:
    """What the booking service does with one reply; Kafka-free."""

    def __init__(self, service: BookingService) -> None:
        self._service = service

    def handle(self, raw: bytes) -> Recorded | None:
        """Record a confirmation; None for anything else, or one the booking refuses.

        A reply that is not valid, not a confirmation, or that the booking's
        state refuses (cancelled, already begun, unknown) is logged and passed
        over. Database errors, and a booking that kept changing under it
        (:class:`Conflict`, three times), propagate: the batch is read again.
        """
        try:
            reply = decode(PatientReplied, raw)
        except InvalidEvent as exc:
            log.warning("reply not read: %s", exc)
            return None
        if reply.intent is not ReplyIntent.CONFIRM:
            return None
        try:
            recorded = self._confirm(reply)
        except Conflict:
            raise
        except BookingError as exc:
            log.warning("confirmation %s not recorded: %s", reply.message_sid, exc)
            return None
        if not recorded.replayed:
            log.info("booking %s confirmed by text", reply.booking_id)
        return recorded

    def _confirm(self, reply: PatientReplied) -> Recorded:
        # The booking changing between read and write is a Conflict worth trying again.
        for attempt in (1, 2, 3):
            try:
                return self._service.confirm(
                    reply.clinic_id,
                    reply.booking_id,
                    source=SOURCE,
                    idempotency_key=f"sms:{reply.message_sid}",
                )
            except Conflict:
                if attempt == 3:
                    raise
        raise AssertionError("unreachable")


class ReplyFollower(Retrying):
    """Reads the replies topic in the booking service's own group, on a thread, until stopped."""

    name = "reply follower"
    retryable = (KafkaError, SQLAlchemyError, OSError, RuntimeError, Conflict)

    def __init__(
        self,
        confirmations: Confirmations,
        kafka: KafkaAccess | str,
        topic: str,
        group_id: str,
        session_timeout_ms: int = 10_000,
        poll_ms: int = 200,
        prepare: Callable[[], None] = lambda: None,
    ) -> None:
        """``prepare`` runs before each connection (e.g. creates the topics, so that
        subscribing never lets the broker make the topic with a count of its own)."""
        self._prepare = prepare
        self._confirmations = confirmations
        self._kafka = access_of(kafka)
        self._topic = topic
        self._group = group_id
        self._session_ms = session_timeout_ms
        self._poll_ms = poll_ms
        super().__init__()

    def follow(self) -> None:
        self._prepare()
        consumer = KafkaConsumer(
            self._topic,
            **self._kafka.client_options(),
            group_id=self._group,
            client_id="clinic-booking-replies",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_ms,
            heartbeat_interval_ms=max(100, self._session_ms // 10),
        )
        try:
            while not self.stopping.is_set():
                fetched = consumer.poll(timeout_ms=self._poll_ms)
                for records in fetched.values():
                    for record in records:
                        self._confirmations.handle(record.value or b"")
                if fetched:
                    consumer.commit()
        finally:
            consumer.close()
