"""Wiring: settings in, a running notifier out. The one place that picks implementations."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition

from services.notifier.clinics import ClinicDirectory, QuietHours
from services.notifier.consumer import NotifierLoop
from services.notifier.delivery import Deliverer, Senders
from services.notifier.ledger import DeliveryLedger
from services.notifier.rendering import TemplateRenderer
from services.notifier.retry import Backoff
from services.notifier.senders.factory import build_senders
from services.notifier.settings import NotifierSettings
from services.shared.clock import Clock
from services.shared.topics import ensure_topics


def open_consumer(settings: NotifierSettings) -> KafkaConsumer:
    """A consumer in the notifier's group on the due topic; commits by hand."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.consumer_group,
        client_id="clinic-notifier",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_records=50,
        max_poll_interval_ms=600_000,
    )
    consumer.subscribe([settings.topics.due], listener=_SayWhenAssigned())
    return consumer


class _SayWhenAssigned(ConsumerRebalanceListener):
    """Prints the partitions the notifier holds after each rebalance: ops see it is ready."""

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        pass

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        partitions = sorted(tp.partition for tp in assigned)
        print(f"notifier ready, partitions {partitions}", flush=True)


def open_producer(settings: NotifierSettings) -> KafkaProducer:
    return KafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        client_id="clinic-notifier",
        linger_ms=5,
    )


@contextmanager
def notifier(
    settings: NotifierSettings,
    clock: Clock,
    stop: threading.Event,
    consumer: KafkaConsumer | None = None,
) -> Iterator[NotifierLoop]:
    """Build the notifier (topics ensured, ledger open) and close everything after.

    Blocks until the broker answers (``RuntimeError`` naming it otherwise).
    ``consumer`` replaces the group consumer, e.g. one with partitions assigned.
    """
    ensure_topics(settings.bootstrap_servers, settings.topics.all(), settings.partitions)
    clinics = ClinicDirectory.from_yaml(
        settings.clinics_file, QuietHours.parse(settings.default_quiet_hours)
    )
    ledger = DeliveryLedger(settings.database_url)
    producer = open_producer(settings)
    consumer = consumer or open_consumer(settings)
    try:
        yield NotifierLoop(
            settings.topics,
            clock,
            _deliverer(settings, clock, clinics, ledger, stop),
            clinics,
            consumer,
            producer,
            settings.poll_timeout_ms,
        )
    finally:
        consumer.close()
        producer.flush()
        producer.close()
        ledger.close()


def _deliverer(
    settings: NotifierSettings,
    clock: Clock,
    clinics: ClinicDirectory,
    ledger: DeliveryLedger,
    stop: threading.Event,
) -> Deliverer:
    renderer = TemplateRenderer(settings.templates_dir, clinics)
    senders: Senders = build_senders(settings, clock, stop)
    backoff = Backoff(
        settings.backoff_base_seconds, settings.backoff_max_seconds, settings.max_attempts
    )
    return Deliverer(ledger, renderer, senders, clock, backoff, stop.wait)


def run(settings: NotifierSettings, clock: Clock, stop: threading.Event) -> None:
    """Run the notifier until ``stop`` is set, then close cleanly."""
    with notifier(settings, clock, stop) as loop:
        loop.run(stop)
