"""Notices a broker that forgot what the booking store told it, and rebuilds every plan.

The reminders worker's plans come from booking events on the broker. If the
broker loses them (the embedded broker keeps nothing when it stops; in
production a topic can be deleted), the booking store still holds every
booking. This check, run by the outbox relay, reads the control topic
(:mod:`services.shared.control`) and queues a ``booking.resynced`` event of
every booking in the outbox when

- the broker does not hold this store's marker (it forgot, or it is new), or
- a worker asked for a resync that nobody has answered yet.

Then it writes the marker (or the answer). Queuing through the outbox makes
the resync as durable as any booking: a crash after the marker is written
still publishes every queued snapshot on the next start.
"""

from __future__ import annotations

import logging
import time

from kafka import KafkaProducer

from services.booking.store.store import BookingStore
from services.shared.clock import Clock
from services.shared.control import (
    MARKER,
    RESYNC_DONE,
    BrokerMarker,
    ControlState,
    ResyncDone,
    ResyncRequested,
    read_control,
    write_control,
)
from services.shared.kafka_access import KafkaAccess
from services.shared.offsets import topic_ends
from services.shared.topics import Topics

log = logging.getLogger("clinic.booking")
said = logging.getLogger("clinic.booking.resync")
said.setLevel(logging.INFO)  # a rebuild is reported even where the service logs only warnings


class BrokerMemory:
    """Resyncs the broker from the booking store when it forgot, or when asked."""

    def __init__(
        self,
        store: BookingStore,
        kafka: KafkaAccess | str,
        topics: Topics,
        clock: Clock,
        every_seconds: float = 10.0,
        forgetful: bool = False,
    ) -> None:
        """``forgetful``: the embedded broker, which keeps nothing across its restarts, so
        that a resync at each start is the expected path, said in one line."""
        self._forgetful = forgetful
        self._store = store
        self._kafka = kafka
        self._topics = topics
        self._clock = clock
        self._every = every_seconds
        self._next = 0.0
        self._store_id: str | None = None
        self._unmarked: tuple[str, str | None, dict[int, int] | None] | None = None
        """The resync queued whose marker or answer has not reached the broker yet: why,
        the request it answers, and where its snapshots begin on the bookings topic."""

    def due(self) -> bool:
        """True when the next look at the control topic is due (at once, the first time)."""
        return time.monotonic() >= self._next

    def check(self, producer: KafkaProducer) -> int | None:
        """Look at the control topic; resync if needed; return the bookings queued, or None.

        Blocks for one read of the control topic (a few milliseconds; up to
        five seconds when the broker is slow). Never raises: whatever fails is
        logged and tried again at the next look, and the outbox goes on being
        published meanwhile. A resync queued but not yet marked on the broker
        is not queued again: the next look only writes the marker.
        """
        self._next = time.monotonic() + self._every
        try:
            return self._look(producer)
        except Exception as exc:
            log.warning("broker check failed (%s); next look in %.0fs", exc, self._every)
            return None

    def _look(self, producer: KafkaProducer) -> int | None:
        store_id = self._own_id()
        state = read_control(self._kafka, self._topics.control)
        if state.remembers(store_id) and state.open_request() is None:
            self._unmarked = None
            return None
        request = state.open_request()
        why = self._reason(state, store_id, request)
        pending = (why, request.request_id if request else None)
        if self._unmarked is None or self._unmarked[:2] != pending:
            begins = self._bookings_end()  # before queuing: the snapshots land after it
            count = self._store.outbox.enqueue_resync(self._topics.bookings, self._clock.now())
            self._unmarked = (*pending, begins)
            self._report(why, request, count)
        else:
            count = 0  # queued at an earlier look whose marker did not reach the broker
        self._mark(producer, state, store_id, request, count, self._unmarked[2])
        self._unmarked = None
        return count

    def _bookings_end(self) -> dict[int, int] | None:
        """The bookings topic's end offset per partition (None when it cannot be read:
        the marker then says nothing of where the resync begins, and workers ask)."""
        try:
            return topic_ends(self._kafka, self._topics.bookings)
        except Exception as exc:
            log.info("bookings topic's end offsets not read (%s); workers will ask", exc)
            return None

    def _report(self, why: str, request: ResyncRequested | None, count: int) -> None:
        if self._forgetful and request is None:
            said.info(
                "the embedded broker starts empty: rebuilding %d bookings' plans "
                "from the booking store",
                count,
            )
            return
        if self._forgetful:  # a worker that found the broker empty too: the same rebuild
            said.debug("resync: %s; %d bookings queued to rebuild every plan", why, count)
            return
        # A first start (no bookings yet) is not news; a resync of real bookings is.
        say = said.warning if count else said.info
        say("resync: %s; %d bookings queued to rebuild every plan", why, count)

    @staticmethod
    def _reason(state: ControlState, store_id: str, request: ResyncRequested | None) -> str:
        if not state.remembers(store_id):
            return "the broker does not hold this booking store's marker (it is new or forgot)"
        assert request is not None
        return f"{request.requested_by} asked: {request.reason}"

    def _mark(
        self,
        producer: KafkaProducer,
        state: ControlState,
        store_id: str,
        request: ResyncRequested | None,
        count: int,
        begins: dict[int, int] | None,
    ) -> None:
        now = self._clock.now()
        if not state.remembers(store_id):
            marker = BrokerMarker(store_id=store_id, written_at=now, bookings_from=begins)
            write_control(producer, self._topics.control, MARKER, marker)
        if request is not None:
            done = ResyncDone(
                request_id=request.request_id, bookings=count, done_at=now, bookings_from=begins
            )
            write_control(producer, self._topics.control, RESYNC_DONE, done)

    def _own_id(self) -> str:
        if self._store_id is None:
            self._store_id = self._store.outbox.store_id()
        return self._store_id
