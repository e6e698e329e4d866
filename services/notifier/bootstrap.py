"""Wiring: settings in, a running notifier out. The one place that picks implementations."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition

from services.notifier.bookings.follower import BookingFollower
from services.notifier.bookings.seen import BookingsSeen
from services.notifier.delivery.consumer import NotifierLoop
from services.notifier.delivery.deliverer import Deliverer
from services.notifier.delivery.hand_over import Senders
from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.publisher import Publisher
from services.notifier.delivery.retry import Backoff, RetryPolicy
from services.notifier.http.app import WebParts, create_app
from services.notifier.http.server import HttpServer, address_of, listen
from services.notifier.http.status_callbacks import StatusCallbacks
from services.notifier.http.unsubscribe_web import UnsubscribeParts
from services.notifier.messages.rendering import TemplateRenderer
from services.notifier.patients.email_opt_out import EmailOptOuts
from services.notifier.patients.inbound import InboundStores, InboundTexts
from services.notifier.patients.inbound_log import InboundLog
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import RepliesInbox
from services.notifier.patients.unsubscribe import UnsubscribeLinks, signing_key
from services.notifier.privacy.erased import ErasureRegister
from services.notifier.privacy.erasure import ErasureStores, NotifierErasure
from services.notifier.providers import build_senders
from services.notifier.senders.rate_buckets import RateBuckets
from services.notifier.settings import NotifierSettings
from services.shared import kafka_patches
from services.shared.clinics import ClinicDirectory
from services.shared.clock import Clock
from services.shared.database import make_engine
from services.shared.erasure import ErasedPatients
from services.shared.metrics import PlatformMetrics
from services.shared.sweeper import Sweeper
from services.shared.topics import ensure_topics

POLL_RECORDS = 500
"""Due reminders taken per poll: one ledger read for the batch, then two writes per step."""
POLL_SECONDS = 60
"""About the longest a poll's batch may take behind the SMS rate: far inside the ten
minutes (``max_poll_interval_ms``) after which the group would drop the notifier."""


def poll_records(settings: NotifierSettings) -> int:
    """Reminders per poll: :data:`POLL_RECORDS`, fewer where the SMS rate (or the SMTP
    relay's) could not send them in :data:`POLL_SECONDS` (1 segment a second, Twilio's
    rate for a long code: 60)."""
    rates = []  # the local sinks have no rate to wait for
    if settings.sms_provider == "twilio":
        rates.append(settings.sms_rate_per_second)
    if settings.email_provider == "smtp" and settings.email_rate_per_second is not None:
        rates.append(settings.email_rate_per_second)
    return max(1, min([POLL_RECORDS, *(int(rate * POLL_SECONDS) for rate in rates)]))


def open_consumer(settings: NotifierSettings) -> KafkaConsumer:
    """A consumer in the notifier's group on the due topic; commits by hand."""
    consumer = KafkaConsumer(
        **settings.kafka.client_options(),
        group_id=settings.consumer_group,
        client_id="clinic-notifier",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_records=POLL_RECORDS,
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
        **settings.kafka.client_options(),
        acks="all",
        client_id="clinic-notifier",
        linger_ms=5,
    )


@dataclass(frozen=True)
class Notifier:
    """The consumer loop and the HTTP app, built on the same ledger, registry and metrics."""

    loop: NotifierLoop
    app: FastAPI
    metrics: PlatformMetrics

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set (see :meth:`NotifierLoop.run`)."""
        self.loop.run(stop)


@contextmanager
def notifier(
    settings: NotifierSettings,
    clock: Clock,
    stop: threading.Event,
    consumer: KafkaConsumer | None = None,
    metrics: PlatformMetrics | None = None,
    own_address: str | None = None,
) -> Iterator[Notifier]:
    """Build the notifier (topics ensured, ledger and registry open) and close everything after.

    Applies the platform's kafka-python patches first (quiet hours pause
    partitions: see :mod:`services.shared.kafka_patches`). Blocks until the
    broker answers (``RuntimeError`` naming it otherwise).
    ``consumer`` replaces the group consumer, e.g. one with partitions assigned.
    Nothing is served: run :attr:`Notifier.app` with :class:`HttpServer` (see :func:`run`).
    Emails' unsubscribe links point at ``notifier_public_url``, else at
    ``own_address`` (where the app will be served), else at the HTTP host and port.
    """
    kafka_patches.apply()
    ensure_topics(
        settings.kafka,
        settings.topics.all(),
        settings.partitions,
        configs=settings.topics.configs(),
    )
    clinics = settings.clinic_directory()
    links = unsubscribe_links(settings, own_address)
    renderer = TemplateRenderer(settings.templates_dir, clinics, links=links)
    metrics = metrics or PlatformMetrics("notifier")
    keys = settings.erasure_keys
    ledger = DeliveryLedger(settings.database_url)
    rates = RateBuckets(settings.database_url)
    registry = ConsentRegistry(settings.database_url, keys)
    seen = BookingsSeen(settings.database_url)
    inbound = InboundStores(
        registry, seen, RepliesInbox(settings.database_url), InboundLog(settings.database_url, keys)
    )
    register = ErasureRegister(settings.database_url, keys)
    producer = open_producer(settings)
    erasure = NotifierErasure(
        ErasureStores(
            register, seen, ledger, registry, inbound.inbox, inbound.log, settings.outbox_dir
        ),
        keys,
        clock,
        Publisher(producer, metrics).publish,
        settings.topics.erasures,
    )
    follower = BookingFollower(
        settings.kafka,
        settings.topics.bookings,
        settings.partitions,
        seen,
        on_erased=erasure.erase,
        forgetful_broker=settings.on_tansu,
    )
    consumer = consumer or open_consumer(settings)
    pool = (
        ThreadPoolExecutor(settings.side_by_side, thread_name_prefix="deliver")
        if settings.side_by_side > 1
        else None
    )
    sweeps = make_engine(settings.database_url)
    sweeper = Sweeper(
        "notifier",
        partial(settings.retention.sweep, sweeps, settings.outbox_dir),
        clock,
        settings.retention_sweep_minutes * 60,
    )
    deliverer: Deliverer | None = None
    try:
        deliverer = _deliverer(
            settings,
            clock,
            renderer,
            (ledger, rates),
            (registry, seen, register.patients),
            stop,
            metrics,
            pool,
        )
        follower.start()
        sweeper.start()
        loop = NotifierLoop(
            settings.topics,
            clock,
            deliverer,
            clinics,
            consumer,
            producer,
            settings.poll_timeout_ms,
            metrics,
            follower,
            poll_records(settings),
        )
        parts = _web(settings, clock, clinics, ledger, inbound, producer, metrics, loop, links)
        yield Notifier(loop, create_app(parts), metrics)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        if deliverer is not None:
            deliverer.close()
        sweeper.stop()
        sweeps.dispose()
        follower.stop()
        register.close()
        seen.close()
        inbound.inbox.close()
        inbound.log.close()
        consumer.close()
        producer.flush()
        producer.close()
        registry.close()
        rates.close()
        ledger.close()


def _web(
    settings: NotifierSettings,
    clock: Clock,
    clinics: ClinicDirectory,
    ledger: DeliveryLedger,
    inbound: InboundStores,
    producer: KafkaProducer,
    metrics: PlatformMetrics,
    loop: NotifierLoop,
    links: UnsubscribeLinks,
) -> WebParts:
    publish = Publisher(producer, metrics).publish
    topics = settings.topics
    opt_outs = EmailOptOuts(inbound.registry, topics, clock, publish)
    return WebParts(
        ledger=ledger,
        inbound=InboundTexts(
            inbound, topics, clinics, settings.twilio_inbound_numbers, clock, publish
        ),
        callbacks=StatusCallbacks(ledger, topics, clock, publish, metrics),
        metrics=metrics,
        partitions=lambda: loop.partitions,
        auth_token=settings.twilio_auth_token.get_secret_value(),
        public_url=settings.notifier_public_url,
        unsubscribe=UnsubscribeParts(links, opt_outs, clinics),
    )


def unsubscribe_links(settings: NotifierSettings, own_address: str | None) -> UnsubscribeLinks:
    """Links signed with the settings' secret (or the kept key) at the notifier's public URL."""
    own = own_address or f"http://{settings.notifier_http_host}:{settings.notifier_http_port}"
    key = signing_key(settings.unsubscribe_secret, settings.var_dir)
    return UnsubscribeLinks(key, settings.notifier_public_url or own)


def _deliverer(
    settings: NotifierSettings,
    clock: Clock,
    renderer: TemplateRenderer,
    stores: tuple[DeliveryLedger, RateBuckets],
    checks: tuple[ConsentRegistry, BookingsSeen, ErasedPatients],
    stop: threading.Event,
    metrics: PlatformMetrics,
    pool: ThreadPoolExecutor | None,
) -> Deliverer:
    """``stores``: the ledger and the senders' shared rate buckets, in one database;
    ``checks``: the opt-outs, the bookings' latest states and the erased patients;
    ``pool``: where different patients' messages are handed over side by side."""
    ledger, rates = stores
    senders: Senders = build_senders(settings, clock, stop, metrics, rates)
    retries = RetryPolicy(
        Backoff(settings.backoff_base_seconds, settings.backoff_max_seconds),
        timedelta(hours=settings.retry_window_hours),
    )
    return Deliverer(
        ledger,
        renderer,
        senders,
        clock,
        retries,
        *checks,
        pool=pool,
        side_by_side=settings.side_by_side if pool else 1,
    )


def run(
    settings: NotifierSettings,
    clock: Clock,
    stop: threading.Event,
    announce: Callable[[str], None] = lambda address: None,
) -> None:
    """Serve HTTP and consume until ``stop`` is set, then close cleanly.

    ``announce`` is told the HTTP address once it accepts requests. Raises
    :class:`PortUnavailable` if the HTTP port cannot be had.
    """
    listening = listen(settings.notifier_http_host, settings.notifier_http_port)
    with (
        closing(listening),
        notifier(settings, clock, stop, own_address=address_of(listening)) as built,
        HttpServer(built.app, listening=listening) as http,
    ):
        announce(http.address)
        built.run(stop)
