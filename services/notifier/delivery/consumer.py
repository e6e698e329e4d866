"""The consumer loop: due reminders in, statuses and dead letters out.

At least once: offsets are committed only after every outcome of the batch is
acknowledged by the broker; the ledger turns a redelivery into a no-op.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from services.notifier.delivery.deliverer import Deliverer
from services.notifier.delivery.jobs import Job, Outcome, Source
from services.notifier.delivery.ledger import Retry
from services.shared.background import Repeats
from services.shared.clinics import ClinicDirectory, quiet_until
from services.shared.clock import Clock
from services.shared.events import (
    REPLAY_HEADER,
    Channel,
    DeadLetter,
    DeliveryState,
    InvalidEvent,
    ReminderDue,
    decode,
    encode,
)
from services.shared.metrics import PlatformMetrics
from services.shared.topics import Topics

log = logging.getLogger(__name__)
SERVICE = "notifier"
RETRY_SWEEP_SECONDS = 0.5
RETRY_PAGE = 50
"""Due retries taken per turn of the loop; a full page is followed by another at once."""
"""How often (real seconds) the loop looks for deferred deliveries that are due."""


@dataclass(frozen=True)
class Origin:
    """Where a reminder came from, as a dead letter and a deferred retry name it."""

    topic: str
    partition: int | None
    offset: int | None
    key: str | None
    payload: str
    replay_of: str | None = None

    @classmethod
    def of(cls, record: Any) -> Origin:
        headers = dict(record.headers or [])
        replay = headers.get(REPLAY_HEADER)
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.key.decode(errors="replace") if record.key else None,
            bytes(record.value or b"").decode(errors="replace"),
            replay.decode(errors="replace") if replay else None,
        )

    @property
    def source(self) -> Source:
        return Source(self.partition, self.offset, self.replay_of)


Delivering = tuple[Origin, ReminderDue, tuple[Channel, ...]]
"""One reminder to deliver on the given channels, and where it came from."""


class Follower(Protocol):
    """What the loop needs of :class:`booking_follower.BookingFollower`."""

    def wait_current(self, since: float, timeout: float = 2.0) -> bool: ...


class NotifierLoop:
    """Consumes ``topics.due`` until ``stop`` is set, a polled batch at a time.

    A poll's reminders (at most ``poll_records``) are delivered as one batch
    (:meth:`Deliverer.deliver_all`: one ledger read, then two writes per step of
    it, different patients handed to the provider side by side); its offsets are
    committed after.

    A reminder inside its clinic's quiet hours pauses its partition until the
    window opens (the record is fetched again then); other partitions go on.

    With a ``follower``, a batch is delivered only once the follower has read
    every booking event published before its newest reminder was emitted (or two
    seconds passed), so that delivery knows of a cancel that came before it.

    A transient failure does not hold the partition: the delivery is deferred in
    the ledger and the offset committed; between polls the loop tries each
    deferred delivery again once it is due (:meth:`Deferrals.due`).
    """

    def __init__(
        self,
        topics: Topics,
        clock: Clock,
        deliverer: Deliverer,
        clinics: ClinicDirectory,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        poll_timeout_ms: int = 200,
        metrics: PlatformMetrics | None = None,
        follower: Follower | None = None,
        poll_records: int = 500,
    ) -> None:
        self._poll_records = poll_records
        self._follower = follower
        self._topics = topics
        self._clock = clock
        self._deliverer = deliverer
        self._clinics = clinics
        self._consumer = consumer
        self._producer = producer
        self._poll_timeout_ms = poll_timeout_ms
        self._paused: dict[TopicPartition, datetime] = {}
        self._metrics = metrics or PlatformMetrics(SERVICE)
        self._partitions: tuple[int, ...] = ()
        self._next_sweep = 0.0
        self._started_at: datetime | None = None

    @property
    def partitions(self) -> tuple[int, ...]:
        """The partitions held after the last poll (read from any thread)."""
        return self._partitions

    def run(self, stop: threading.Event) -> None:
        """Block, processing batches, until ``stop`` is set; commit what was done."""
        repeats = Repeats()
        while not stop.is_set():
            self._resume_due_partitions()
            try:
                batch = self._consumer.poll(
                    timeout_ms=self._poll_timeout_ms, max_records=self._poll_records
                )
            except KafkaError as exc:
                if not exc.retriable:
                    raise
                # kafka-python lets a lost connection out of poll while it looks for the
                # group's coordinator (seen when an Apache Kafka node died): poll again.
                log.log(repeats.level(), "poll failed (%s); polling again in 1s", exc)
                stop.wait(1.0)
                continue
            repeats.mended()
            self._partitions = tuple(sorted(tp.partition for tp in self._consumer.assignment()))
            self._wait_for_bookings(batch)
            self._process(batch)
            self._retry_due()

    def _retry_due(self) -> None:
        """Try again each deferred delivery whose next attempt is due (quiet hours wait).

        The first time, retries an earlier run left mid-send are closed as unknown.
        """
        if time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + RETRY_SWEEP_SECONDS
        if self._started_at is None:
            self._started_at = self._clock.now()
            for reminder, outcome in self._deliverer.retries.close_interrupted(self._started_at):
                self._send(self._topics.status, reminder.key, encode(outcome.status))
        due: list[Delivering] = []
        retries = self._deliverer.retries.due(RETRY_PAGE)
        if len(retries) == RETRY_PAGE:
            self._next_sweep = 0.0  # more are due: the next turn of the loop takes them
        for retry in retries:
            try:
                reminder = decode(ReminderDue, retry.reminder_json)
            except InvalidEvent as exc:  # kept by an older release: never stop the loop
                self._deliverer.retries.fail_unreadable(retry, str(exc))
                self._dead_letter(self._origin_of(retry, None), f"{retry.channel}: {exc}")
                continue
            clinic = self._clinics.get(reminder.clinic_id)
            until = quiet_until(clinic.quiet_hours, reminder.patient.timezone, self._clock.now())
            if until is not None:
                self._deliverer.retries.postpone(reminder, retry.channel, until)
                continue
            due.append((self._origin_of(retry, reminder), reminder, (retry.channel,)))
        if due:
            self._deliver_all(due)
            self._producer.flush()

    def _origin_of(self, retry: Retry, reminder: ReminderDue | None) -> Origin:
        key = reminder.key if reminder else None
        return Origin(self._topics.due, retry.partition, retry.offset, key, retry.reminder_json)

    def _wait_for_bookings(self, batch: dict[TopicPartition, list[Any]]) -> None:
        if not batch or self._follower is None:
            return
        newest = max(r.timestamp for records in batch.values() for r in records) / 1000
        if not self._follower.wait_current(newest):
            log.warning("booking events not read to the end within 2s; delivering anyway")

    def _process(self, batch: dict[TopicPartition, list[Any]]) -> None:
        """Deliver a poll's reminders together, then commit each partition's offsets."""
        handled: dict[TopicPartition, tuple[int, int]] = {}
        ready: list[Delivering] = []
        for partition, records in batch.items():
            taken = self._take(partition, records, ready)
            if taken:
                handled[partition] = (len(taken), taken[-1].offset + 1)
        self._deliver_all(ready)
        if handled:
            self._producer.flush()
            for partition, (count, _) in handled.items():
                # Counted once handled: a record held back for quiet hours is fetched again.
                self._metrics.record_consumed(partition.topic, count)
            offsets = {tp: OffsetAndMetadata(offset, "", -1) for tp, (_, offset) in handled.items()}
            self._consumer.commit(offsets)

    def _take(
        self, partition: TopicPartition, records: list[Any], ready: list[Delivering]
    ) -> list[Any]:
        """The records of ``partition`` handled in this batch; their reminders added to ``ready``.

        A record that does not read is dead-lettered; the first inside its clinic's
        quiet hours pauses the partition there (it and those after it are fetched again).
        """
        taken: list[Any] = []
        for record in records:
            try:
                reminder = decode(ReminderDue, record.value)
            except InvalidEvent as exc:
                self._dead_letter(Origin.of(record), str(exc))
                taken.append(record)
                continue
            clinic = self._clinics.get(reminder.clinic_id)
            until = quiet_until(clinic.quiet_hours, reminder.patient.timezone, self._clock.now())
            if until is not None:
                self._consumer.seek(partition, record.offset)
                self._consumer.pause(partition)
                self._paused[partition] = until
                log.info("quiet hours: %s waits until %s", partition, until.isoformat())
                break
            taken.append(record)
            ready.append((Origin.of(record), reminder, reminder.channels))
        return taken

    def _deliver_all(self, reminders: list[Delivering]) -> None:
        """Deliver every reminder in one batch (see :meth:`Deliverer.deliver_all`) and
        publish each outcome; an erased patient's are dropped first."""
        jobs: list[tuple[Origin, Job]] = []
        for origin, reminder, channels in reminders:
            if reason := self._deliverer.dropped(reminder):
                log.info("reminder %s dropped: %s", reminder.reminder_id, reason)
                for channel in channels:
                    self._deliverer.drop(reminder, channel, reason)
                    self._metrics.record_delivery(channel.value, "skipped", reason)
                continue
            jobs.extend((origin, Job(reminder, channel, origin.source)) for channel in channels)
        if not jobs:
            return
        outcomes = self._deliverer.deliver_all([job for _, job in jobs])
        for (origin, job), outcome in zip(jobs, outcomes, strict=True):
            self._publish(origin, job.reminder, outcome)

    def _publish(self, origin: Origin, reminder: ReminderDue, outcome: Outcome) -> None:
        """The status of one delivery, its count, and for a permanent failure a dead letter."""
        if outcome.repeat and outcome.status.state is DeliveryState.RETRYING:
            return  # waiting for its next attempt, already reported
        self._send(self._topics.status, reminder.key, encode(outcome.status))
        if not outcome.repeat:
            status = outcome.status
            self._metrics.record_delivery(status.channel.value, status.state.value, status.reason)
        if outcome.dead_letter and not outcome.repeat:
            self._dead_letter(origin, outcome.dead_letter)

    def _dead_letter(self, origin: Origin, reason: str) -> None:
        letter = DeadLetter(
            service=SERVICE,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            key=origin.key,
            payload=origin.payload,
            reason=reason,
            occurred_at=self._clock.now(),
        )
        self._send(self._topics.notifications_dlq, origin.key, encode(letter))

    def _send(self, topic: str, key: str | None, value: bytes) -> None:
        self._producer.send(topic, key=key.encode() if key else None, value=value)
        self._metrics.record_produced(topic)

    def _resume_due_partitions(self) -> None:
        now = self._clock.now()
        for partition, until in list(self._paused.items()):
            if until <= now or partition not in self._consumer.assignment():
                del self._paused[partition]
                if partition in self._consumer.assignment():
                    self._consumer.resume(partition)
