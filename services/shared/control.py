"""The platform's control topic: does the broker still remember us, and who asked for a resync.

The booking store is the durable truth; the broker may forget (the embedded
broker keeps nothing when it stops; a production topic can be deleted or
truncated). Two records on partition 0 of ``clinic.platform.v1`` let the
services notice that on their own:

- the booking service's **marker** (key ``marker``), written once it has
  published every booking it holds. A broker without the marker of this
  booking store has lost what it was told, so the booking service rebuilds
  every plan from its store (a resync) and writes the marker again;
- a **resync request** (key ``resync-request``), written by a reminders
  worker that had to discard local plans the broker no longer backs; the
  booking service answers it with a resync and a **resync done** record
  (key ``resync-done``) naming the request.

Both the marker and the done record say where the resync's snapshots begin on
the bookings topic (``bookings_from``: its end offsets when the resync was
queued). A worker that discards local plans and will read the bookings topic
from at or before those offsets reads every snapshot anyway, so it asks for
nothing (:meth:`ControlState.covers`): a broker that forgot everything is
rebuilt from once, not once for the booking service and once for each worker.

Each record is produced on its own and flushed, so each is a batch of one and
the broker's end offset is exact even on the embedded broker.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeVar

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from pydantic import Field

from services.shared.events import SCHEMA_VERSION, Frozen, InvalidEvent, UtcDatetime, decode, encode
from services.shared.kafka_access import KafkaAccess, access_of
from services.shared.offsets import true_ends

MARKER = b"marker"
RESYNC_REQUEST = b"resync-request"
RESYNC_DONE = b"resync-done"

M = TypeVar("M", bound=Frozen)


class BrokerMarker(Frozen):
    """The booking store ``store_id`` has published all it holds to this broker."""

    type: Literal["platform.marker"] = "platform.marker"
    schema_version: Literal[1] = SCHEMA_VERSION
    store_id: str
    written_at: UtcDatetime
    bookings_from: dict[int, int] | None = None
    """The bookings topic's end offset per partition when the resync this marker follows
    was queued: its snapshots lie at or after them (None: no resync, or not known)."""

    @property
    def when(self) -> datetime:
        return self.written_at


class ResyncRequested(Frozen):
    """A service lost plans the broker no longer backs and asks for them again."""

    type: Literal["resync.requested"] = "resync.requested"
    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    requested_by: str
    reason: str
    requested_at: UtcDatetime


class ResyncDone(Frozen):
    """The booking service republished every booking in answer to ``request_id``."""

    type: Literal["resync.done"] = "resync.done"
    schema_version: Literal[1] = SCHEMA_VERSION
    request_id: str | None
    bookings: int
    done_at: UtcDatetime
    bookings_from: dict[int, int] | None = None
    """As :attr:`BrokerMarker.bookings_from`, for this resync."""

    @property
    def when(self) -> datetime:
        return self.done_at


@dataclass(frozen=True)
class ControlState:
    """What the control topic holds now: the latest record of each kind, if any."""

    marker: BrokerMarker | None = None
    request: ResyncRequested | None = None
    done: ResyncDone | None = None

    def remembers(self, store_id: str) -> bool:
        """True when this broker holds the marker of booking store ``store_id``."""
        return self.marker is not None and self.marker.store_id == store_id

    def open_request(self) -> ResyncRequested | None:
        """The latest resync request, unless a resync done record has answered it."""
        if self.request is None:
            return None
        if self.done is not None and self.done.request_id == self.request.request_id:
            return None
        return self.request

    def covers(self, reads_from: dict[int, int], kept: dict[int, tuple[int, int]]) -> bool:
        """True when a worker that will read the bookings topic from ``reads_from`` (offset
        per partition) reads every snapshot of the latest resync, so need not ask.

        ``kept``: each partition's first and end offsets now. The snapshots must
        still be there: not removed by retention (first offset past where they
        begin) nor lost with the topic (the end now short of where they begin).
        """
        queued = [
            (record.when, record.bookings_from)
            for record in (self.marker, self.done)
            if record is not None and record.bookings_from is not None
        ]
        if not queued or not reads_from:
            return False
        begins = max(queued, key=lambda q: q[0])[1]
        return all(
            p in begins and p in kept and kept[p][0] <= begins[p] <= kept[p][1] and at <= begins[p]
            for p, at in reads_from.items()
        )


def read_control(kafka: KafkaAccess | str, topic: str, timeout: float = 5.0) -> ControlState:
    """Read partition 0 of the control topic from its start to its end.

    Blocks up to ``timeout`` seconds; raises ``TimeoutError`` if the end was
    not reached by then (the broker is slow or gone: try again later).
    Records that are not valid control records are passed over.
    """
    tp = TopicPartition(topic, 0)
    consumer = KafkaConsumer(
        **access_of(kafka).client_options(),
        enable_auto_commit=False,
        client_id="clinic-control",
        request_timeout_ms=int(timeout * 1000) + 1000,
    )
    try:
        reported = consumer.end_offsets([tp])[tp]
        end = true_ends(consumer, {tp: reported}, timeout)[tp]
        return _read_to(consumer, tp, end, time.monotonic() + timeout)
    finally:
        consumer.close()


def _read_to(
    consumer: KafkaConsumer, tp: TopicPartition, end: int, deadline: float
) -> ControlState:
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    latest: dict[bytes, bytes] = {}
    while consumer.position(tp) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{tp.topic} not read to its end ({end})")
        for record in consumer.poll(timeout_ms=200).get(tp, []):
            if record.key is not None and record.value is not None:
                latest[record.key] = record.value
    return ControlState(
        marker=_parsed(BrokerMarker, latest.get(MARKER)),
        request=_parsed(ResyncRequested, latest.get(RESYNC_REQUEST)),
        done=_parsed(ResyncDone, latest.get(RESYNC_DONE)),
    )


def _parsed(model: type[M], raw: bytes | None) -> M | None:
    if raw is None:
        return None
    try:
        return decode(model, raw)
    except InvalidEvent:
        return None


def write_control(producer: KafkaProducer, topic: str, key: bytes, record: Frozen) -> None:
    """Produce one control record to partition 0 and block until the broker has it."""
    producer.send(topic, key=key, value=encode(record), partition=0).get(timeout=10)
