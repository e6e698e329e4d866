"""Rebuild after a broker that forgot: bookings re-planned per second from the booking store.

A booking store holds ``count`` bookings, all published long ago (to topics of
another prefix, standing for the broker that forgot). A worker runs on topics
of a fresh prefix, where the booking store's marker is missing, as after a
restart of the embedded broker. The booking service's relay, run here step by
step as its thread runs it, finds the marker gone, queues one snapshot of every
booking and publishes them; the figure is the bookings the worker re-planned
per second, from the first changelog write to the last (as the throughput figure),
against the worker's own throughput figure from the same run (a backlog read
straight from the topic). That the worker then asks for no second resync is
shown by ``tests/integration/reminders/test_lost_broker.py``, on a broker that
really forgot.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.bookings import future_bookings, record
from bench.result import Figure
from bench.stack import Stack
from services.booking.publishing.broker_memory import BrokerMemory
from services.booking.publishing.relay import OutboxRelay
from services.booking.store.store import BookingStore
from services.shared.events import BookingEvent, decode

RATIO = 0.8
"""Bookings re-planned per second in a rebuild, as a share of the worker's throughput."""


def run(bootstrap: str, var_dir: Path, count: int, throughput: Figure) -> Figure:
    """The rebuild of ``count`` bookings against ``throughput`` (the worker's own figure)."""
    folder = var_dir / "rebuild"
    folder.mkdir(parents=True, exist_ok=True)
    stack = Stack(bootstrap, "rebuild", var_dir)
    store = BookingStore(f"sqlite:///{folder / f'booking-{int(time.time())}.db'}")
    for made in future_bookings(count, "rb", stack.clock.now()):
        _, value = record(made)
        store.insert(decode(BookingEvent, value), "bench-forgotten.bookings", made.booking_id)
    store.outbox.mark_published([r.id for r in store.outbox.pending(count)], stack.clock.now())
    try:
        stack.start()
        memory = BrokerMemory(store, bootstrap, stack.topics, stack.clock)
        relay = OutboxRelay(store, bootstrap, stack.clock, memory=memory)
        began = time.time()
        try:
            while relay.publish_pending():
                pass
        finally:
            relay.stop()
        relayed = time.time()
        load = stack.wait_written(0, count, began)
    finally:
        stack.close()
    rate = load.steady_rate  # as the throughput figure: first changelog write to last
    return Figure(
        "rebuild",
        rate,
        "bookings/s",
        throughput.value,
        "worker throughput bookings/s",
        target=f">= {RATIO} of throughput",
        met=rate >= RATIO * throughput.value,
        extra={"bookings": count, "relay_s": round(relayed - began, 1)},
    )
