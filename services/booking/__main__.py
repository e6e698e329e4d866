"""``python -m services.booking``: the booking API and the outbox relay, until a signal.

Starts even when the broker is down: bookings are accepted into the outbox and
the relay publishes them (creating the topics first) once the broker answers.
Patients' confirmations by text are read from ``clinic.replies.v1`` on a thread
of their own (:mod:`services.booking.publishing.replies`), and sent on to each clinic's
callback URL from another (:mod:`services.booking.publishing.callbacks`). What clinics
write to their own ingress topics is relayed from a third
(:mod:`services.booking.sources.ingress`).
Follows the calendar feeds of ``CLINIC_BOOKING_CALENDAR_FEEDS`` and the FHIR servers of
``CLINIC_BOOKING_FHIR_SERVERS``, if any, each kind on a
background thread.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from functools import partial

import uvicorn

from services.booking.http.api import create_app
from services.booking.publishing.broker_memory import BrokerMemory
from services.booking.publishing.callbacks import CallbackSender
from services.booking.publishing.relay import OutboxRelay
from services.booking.publishing.replies import Confirmations, ReplyFollower
from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from services.booking.sources.calendar.state import CalendarState
from services.booking.sources.calendar.sync import CalendarSync, build_feed
from services.booking.sources.fhir.state import FhirState
from services.booking.sources.fhir.sync import FhirSync, build_server
from services.booking.sources.ingress import IngressRelay
from services.booking.sources.poller import SourcePoller
from services.booking.store.callback_queue import CallbackQueue
from services.booking.store.store import BookingStore
from services.shared import kafka_patches
from services.shared.clock import ScaledClock
from services.shared.logs import configure_logging
from services.shared.metrics import PlatformMetrics
from services.shared.settings import load_settings
from services.shared.sweeper import Sweeper
from services.shared.topics import ensure_topics


def main() -> int:
    """Run until SIGINT or SIGTERM; 0 after a clean stop, 2 on bad configuration."""
    configure_logging("booking", logging.WARNING)
    logging.getLogger("kafka").setLevel(logging.CRITICAL)  # the relay reports broker trouble
    kafka_patches.apply()
    settings = load_settings(BookingSettings)
    try:
        clock = ScaledClock.from_environment()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        feeds = [build_feed(entry) for entry in settings.booking_calendar_feeds]
    except (OSError, ValueError) as exc:
        print(f"configuration error: CLINIC_BOOKING_CALENDAR_FEEDS: {exc}", file=sys.stderr)
        return 2
    try:
        fhir_servers = [build_server(entry) for entry in settings.booking_fhir_servers]
    except (OSError, ValueError) as exc:
        print(f"configuration error: CLINIC_BOOKING_FHIR_SERVERS: {exc}", file=sys.stderr)
        return 2
    store = BookingStore(settings.database_url)
    metrics = PlatformMetrics("booking")
    relay = _relay(settings, store, clock, metrics)
    try:
        app = create_app(settings, store, clock, notify=relay.wake, metrics=metrics)
    except (OSError, ValueError) as exc:
        print(f"configuration error: CLINIC_CLINICS_FILE: {exc}", file=sys.stderr)
        store.close()
        return 2
    service = app.state.service
    state = CalendarState(store.engine)
    calendars = SourcePoller(
        "calendar",
        [CalendarSync(feed, service, state) for feed in feeds],
        settings.booking_calendar_poll_seconds,
    )
    fhir_state = FhirState(store.engine)
    fhir = SourcePoller(
        "fhir",
        [
            FhirSync(server, service, fhir_state, inbox=app.state.fhir_inbox)
            for server in fhir_servers
        ],
        settings.booking_fhir_poll_seconds,
    )
    app.state.fhir_wake = fhir.wake
    replies = _replies(settings, app.state.service)
    ingress = _ingress(settings, clock)
    callbacks = CallbackSender(
        CallbackQueue(store.engine),
        app.state.service.clinics,
        clock,
        settings.booking_callback_poll_seconds,
    )
    sweeper = Sweeper(
        "booking",
        partial(settings.retention.sweep, store.engine),
        clock,
        settings.retention_sweep_minutes * 60,
    )
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=settings.booking_host,
            port=settings.booking_port,
            log_level="warning",
            log_config=None,  # uvicorn's loggers go through ours: masked, tracebacks too
        )
    )
    threading.Thread(target=_announce, args=(server,), daemon=True).start()
    _stop_on_signals(server)
    relay.start()
    replies.start()
    ingress.start()
    callbacks.start()
    sweeper.start()
    calendars.start()
    fhir.start()
    try:
        server.run()
    finally:
        for background in (callbacks, replies, ingress):
            background.stopping.set()  # all asked at once: each stop below waits for its own
        calendars.stop()
        fhir.stop()
        sweeper.stop()
        callbacks.stop()
        replies.stop()
        ingress.stop()
        relay.stop()
        store.close()
    return 0


def _make_topics(settings: BookingSettings) -> None:
    """Creates what topics are missing (quickly given up: each caller tries again), before
    the relays and followers connect, so that no broker makes one with a count of its own."""
    ensure_topics(
        settings.kafka,
        settings.topics.all(),
        settings.partitions,
        timeout=2.0,
        configs=settings.topics.configs(),
    )


def _relay(
    settings: BookingSettings, store: BookingStore, clock: ScaledClock, metrics: PlatformMetrics
) -> OutboxRelay:
    return OutboxRelay(
        store,
        settings.kafka,
        clock,
        poll_seconds=settings.relay_poll_seconds,
        batch_size=settings.relay_batch_size,
        max_backoff_seconds=settings.relay_max_backoff_seconds,
        prepare=partial(_make_topics, settings),
        metrics=metrics,
        memory=BrokerMemory(
            store,
            settings.kafka,
            settings.topics,
            clock,
            settings.broker_memory_check_seconds,
            forgetful=settings.on_tansu,
        ),
    )


def _replies(settings: BookingSettings, service: BookingService) -> ReplyFollower:
    return ReplyFollower(
        Confirmations(service),
        settings.kafka,
        settings.topics.replies,
        settings.booking_replies_group,
        settings.booking_session_timeout_ms,
        prepare=partial(_make_topics, settings),
    )


def _ingress(settings: BookingSettings, clock: ScaledClock) -> IngressRelay:
    return IngressRelay(
        settings.kafka,
        settings.topics,
        settings.booking_ingress_group,
        clock,
        prepare=partial(_make_topics, settings),
    )


def _stop_on_signals(server: uvicorn.Server) -> None:
    # uvicorn handles SIGINT/SIGTERM while serving, then raises the signal again
    # under the previous handler; with this one that ends in a clean return (exit 0)
    # rather than a KeyboardInterrupt or a kill by SIGTERM.
    def stop(_signum: int, _frame: object) -> None:
        server.should_exit = True

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, stop)


def _announce(server: uvicorn.Server) -> None:
    while not server.started:
        if server.should_exit:
            return
        threading.Event().wait(0.05)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    print(f"booking service on http://{host}:{port}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
