"""The reminders worker as a Faust app: where a booking's plan is kept and fired.

One agent reads two co-partitioned topics in order: booking events, and the
ticks a timer sends to each partition this worker owns. Every table write
therefore happens inside the stream, on the partition of the record being
processed, so a patient's plan always lives on the partition of its events.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, ItemsView, Iterator, MutableMapping, ValuesView
from datetime import timedelta
from typing import Any

import faust
from faust.types import TP, EventT, TableT

from services.ops.metrics import PlatformMetrics
from services.reminders.batches import BATCH_MAX, one_by_one
from services.reminders.changelog import held_changelog_table
from services.reminders.monitor import WorkerMonitor
from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry, UnknownTreatment
from services.reminders.recovery import use_checked_recovery
from services.reminders.schedule import Scheduler, Skipped
from services.reminders.settings import ReminderSettings
from services.reminders.state import PatientState
from services.reminders.transport import use_worker_transport
from services.reminders.views import add_views
from services.shared.clock import Clock
from services.shared.control import RESYNC_REQUEST, ResyncRequested
from services.shared.events import (
    BookingEvent,
    DeadLetter,
    DeliveryState,
    InvalidEvent,
    NotificationStatus,
    decode,
    encode,
)

log = logging.getLogger("clinic.reminders")


def create_app(
    settings: ReminderSettings,
    clock: Clock,
    registry: ProtocolRegistry,
    policy: Callable[[str], ClinicPolicy],
) -> faust.App:
    """Build the worker's app; nothing connects until a faust Worker starts it."""
    app = faust.App(settings.app_id, monitor=WorkerMonitor(), **_app_options(settings))
    use_worker_transport(app, exact_ends=settings.on_tansu)
    # A batch that ends early hands up to BATCH_MAX held plans to Faust's
    # producer buffer at once (changelog.py); past its default of 100 unsent
    # records it would log "producer buffer full". Room for two batches.
    app.producer.buffer.max_messages = 2 * BATCH_MAX
    topics = settings.topics
    raw: faust.Schema[bytes, bytes] = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    options: dict[str, Any] = {"schema": raw, "partitions": settings.partitions}
    inbound = app.topic(topics.bookings, topics.ticks, **options)
    ticks = app.topic(topics.ticks, **options)
    due = app.topic(topics.due, **options)
    status = app.topic(topics.status, **options)
    dead = app.topic(topics.bookings_dlq, **options)
    table = held_changelog_table(
        app,
        "patients",
        partitions=settings.partitions,
        key_type=str,
        value_type=bytes,  # the plan's own JSON, kept as it is written
        options=dict(ROCKSDB_OPTIONS),
        help="Each patient's bookings, pending reminders and finished ones (JSON).",
    )
    patients = PatientTable(table)
    metrics = PlatformMetrics("reminders")
    scheduler = Scheduler(
        patients,
        registry,
        policy,
        settings.bucket_seconds,
        timedelta(days=settings.max_lateness_days),
    )
    scheduler.started_at = clock.now()

    def owned() -> list[int]:
        """The partitions this worker fires (those of the ticks topic it holds)."""
        return sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == topics.ticks)

    def index_owned_partitions() -> None:
        partitions = owned()
        if frozenset(partitions) != scheduler.index.partitions:
            entries = scheduler.rebuild(partitions)
            log.info("indexed %d due entries for partitions %s", entries, partitions)

    async def on_lost(lost: dict[TP, tuple[int, int]]) -> None:
        scheduler.index.reset(())  # indexed again from what is left once recovery completes
        await request_resync(app, settings, clock, lost)

    use_checked_recovery(app, on_lost)

    @table.on_recover
    async def index_recovered() -> None:
        """Index as soon as the table is whole again: the views count from the index."""
        index_owned_partitions()

    async def report_skipped(skipped: list[Skipped]) -> None:
        for one in skipped:
            for state in _skipped_statuses(one, clock):
                await status.send(key=one.booking.patient_key.encode(), value=encode(state))
                metrics.record_delivery(state.channel.value, state.state.value, state.reason)

    async def dead_letter(event: EventT[Any], exc: Exception) -> None:
        await dead.send(key=event.message.key, value=encode(_dead_letter(event, exc, clock)))
        metrics.record_produced(topics.bookings_dlq)
        log.warning(
            "dead-lettered %s:%s: %s",
            event.message.topic,
            event.message.offset,
            exc,
            extra={
                "topic": event.message.topic,
                "partition": event.message.partition,
                "offset": event.message.offset,
            },
        )

    async def on_booking(event: EventT[Any]) -> None:
        try:
            booking_event = decode(BookingEvent, event.message.value or b"")
            applied = scheduler.apply(booking_event, event.message.partition, clock.now())
            _say_planned(booking_event, applied.state)
            await report_skipped(applied.skipped)
        except (InvalidEvent, UnknownTreatment) as exc:
            await dead_letter(event, exc)
        except Exception as exc:  # a fault of ours, not the event's: kept with its reason
            log.exception("could not plan %s:%s", event.message.topic, event.message.offset)
            await dead_letter(event, exc)

    async def on_tick(partition: int) -> None:
        result = scheduler.tick(partition, clock.now())
        try:
            sent = [await due.send(key=r.key.encode(), value=encode(r)) for r in result.emitted]
            await asyncio.gather(*sent)  # the broker holds them all before the plans say "done"
        except asyncio.CancelledError:  # stopping, or a rebalance: still listed if kept
            scheduler.put_back(result)
            raise
        except Exception as exc:  # whatever the cause, the next tick tries again
            scheduler.put_back(result)
            log.warning(
                "partition %d: %d due reminders not taken by the broker (%s); sent again next tick",
                partition,
                len(result.emitted),
                exc,
            )
            return
        scheduler.commit(result)
        metrics.record_produced(topics.due, len(result.emitted))
        for reminder in result.emitted:
            log.info(
                "due %s for booking %s",
                reminder.milestone,
                reminder.booking_id,
                extra={"reminder_id": reminder.reminder_id, "booking_id": reminder.booking_id},
            )
        await report_skipped(result.skipped)

    @app.agent(inbound, name="plan")
    async def plan(stream: faust.StreamT[bytes]) -> None:
        async for event in one_by_one(stream, table):  # in batches: see batches.py
            if event.message.topic == topics.ticks:
                index_owned_partitions()  # after a rebalance, before the first firing
                await on_tick(event.message.partition)
            else:
                metrics.record_consumed(topics.bookings)
                await on_booking(event)

    add_views(app, patients, scheduler, clock, metrics, owned)

    @app.timer(interval=settings.tick_interval_seconds)
    async def send_ticks() -> None:
        for partition in owned():
            await ticks.send(value=b"", partition=partition)

    return app


async def request_resync(
    app: faust.App, settings: ReminderSettings, clock: Clock, lost: dict[TP, tuple[int, int]]
) -> None:
    """Say which partitions' plans were discarded, and ask the booking service for them again.

    A request the broker does not take is logged: the booking service also
    resyncs on its own when the broker has forgotten its marker.
    """
    parts = ", ".join(
        f"{tp.partition} (kept to offset {stored}, changelog "
        + ("empty" if end < 0 else f"ends at {end}")
        + ")"
        for tp, (stored, end) in sorted(lost.items())
    )
    reason = f"changelog shorter than the local plans of partitions {parts}"
    log.warning("%s: the broker lost them; local plans discarded, asking for a resync", reason)
    request = ResyncRequested(
        requested_by=f"reminders worker {settings.worker_id}",
        reason=reason,
        requested_at=clock.now(),
    )
    try:
        await app.producer.send_and_wait(
            settings.topics.control, RESYNC_REQUEST, encode(request), 0, None, None
        )
    except Exception as exc:
        log.warning("resync request not taken by the broker (%s)", exc)


class PatientTable(MutableMapping[str, bytes]):
    """The patients table as the scheduler and views use it.

    Reads go straight to the table's store: one lookup, where the table's own
    ``get`` asks the store twice (contains, then get). Writes go through the
    table, so each one reaches the changelog.
    """

    def __init__(self, table: TableT[str, bytes]) -> None:
        self._table = table

    def __getitem__(self, key: str) -> bytes:
        return self._table.data[key]

    def __setitem__(self, key: str, value: bytes) -> None:
        self._table[key] = value

    def __delitem__(self, key: str) -> None:
        del self._table[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def items(self) -> ItemsView[str, bytes]:
        return self._table.items()

    def values(self) -> ValuesView[bytes]:
        return self._table.values()


ROCKSDB_OPTIONS = {
    "write_buffer_size": 4 * 1024**2,
    "max_write_buffer_number": 2,
    "block_cache_size": 32 * 1024**2,
    "block_cache_compressed_size": 8 * 1024**2,
}
"""Faust's defaults (64 MB buffers, a 2 GB block cache) are sized for far bigger tables."""


def _app_options(settings: ReminderSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "broker": f"kafka://{settings.bootstrap_servers}",
        "store": "rocksdb://" if settings.worker_store == "rocksdb" else "memory://",
        "datadir": str(settings.data_dir),
        "web_host": settings.worker_web_host,
        "web_bind": settings.worker_web_host,
        "web_port": settings.worker_web_port,
        # Faust's own pages (every table's values, the router, graphs, stats) show
        # patients' data to anyone who asks: only the worker's own views are served.
        "web_tables_enabled": False,
        "web_router_enabled": False,
        "web_graph_enabled": False,
        "web_stats_enabled": False,
        "topic_partitions": settings.partitions,
        "processing_guarantee": "at_least_once",
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": min(1.0, settings.session_timeout_seconds / 5),
        "consumer_auto_offset_reset": "earliest",
        "table_standby_replicas": 0,
        # A few milliseconds of linger lets changelog writes and due reminders
        # share produce requests under load.
        "producer_linger": 0.005,
    }
    return options


def _say_planned(event: BookingEvent, state: PatientState) -> None:
    """One readable line per booking event: what is now planned for that booking."""
    if not log.isEnabledFor(logging.INFO):
        return
    booking = event.data
    mine = sorted(
        (p for p in state.pending.values() if p.booking_id == booking.booking_id),
        key=lambda p: p.due_at,
    )
    plan = ", ".join(f"{p.milestone} {str(p.due_at)[:16]}Z" for p in mine) or "nothing"
    log.info(
        "%s %s: planned %s",
        event.type.value,
        booking.booking_id,
        plan,
        extra={"booking_id": booking.booking_id, "clinic_id": booking.clinic_id},
    )


def _dead_letter(event: EventT[Any], exc: Exception, clock: Clock) -> DeadLetter:
    raw = event.message.value
    key = event.message.key
    return DeadLetter(
        service="reminders",
        topic=event.message.topic,
        partition=event.message.partition,
        offset=event.message.offset,
        key=key.decode(errors="replace") if isinstance(key, bytes) else None,
        payload=raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw),
        reason=f"{type(exc).__name__}: {exc}",
        occurred_at=clock.now(),
    )


def _skipped_statuses(skipped: Skipped, clock: Clock) -> list[NotificationStatus]:
    return [
        NotificationStatus(
            reminder_id=skipped.pending.reminder_id,
            clinic_id=skipped.booking.clinic_id,
            booking_id=skipped.booking.booking_id,
            milestone=skipped.pending.milestone,
            channel=channel,
            state=DeliveryState.SKIPPED,
            reason=skipped.reason,
            occurred_at=clock.now(),
        )
        for channel in skipped.pending.channels
    ]
