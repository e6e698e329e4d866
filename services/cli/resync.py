"""``clinic-reminders resync``: rebuild every reminder plan from the booking store.

The embedded broker forgets everything when it stops, and a production cluster
can lose a topic too; the booking store is the durable truth. Resync publishes
each stored booking's current snapshot as a ``booking.resynced`` event. Replaying
is safe: reminder ids are deterministic, and the notifier's ledger turns a
reminder it already sent into a no-op.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from kafka import KafkaProducer

from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import Clock, ScaledClock
from services.shared.events import Booking, BookingEvent, BookingEventType, encode
from services.shared.settings import load_settings
from services.shared.topics import ensure_topics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "resync", help="rebuild every reminder plan from the booking store"
    )
    parser.add_argument("--clinic", help="only this clinic's bookings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(BookingSettings)
    ensure_topics(settings.kafka, settings.topics.all(), settings.partitions)
    store = BookingStore(settings.database_url)
    producer = KafkaProducer(
        **settings.kafka.client_options(),
        acks="all",
        max_in_flight_requests_per_connection=1,
    )
    try:
        count = resync(
            store.iter_bookings(args.clinic),
            producer,
            settings.topics.bookings,
            ScaledClock.from_environment(),
        )
    finally:
        producer.close()
        store.close()
    print(f"resync: published {count} bookings to {settings.topics.bookings}")
    return 0


def resync(bookings: Iterable[Booking], producer: KafkaProducer, topic: str, clock: Clock) -> int:
    """Publish one ``booking.resynced`` event per booking; block until all are acked."""
    count = 0
    for booking in bookings:
        event = resynced(booking, clock)
        producer.send(topic, key=event.key.encode(), value=encode(event))
        count += 1
    producer.flush()
    return count


def resynced(booking: Booking, clock: Clock) -> BookingEvent:
    return BookingEvent(
        type=BookingEventType.RESYNCED,
        occurred_at=clock.now(),
        clinic_id=booking.clinic_id,
        source="resync",
        data=booking,
    )
