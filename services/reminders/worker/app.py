"""The reminders worker as a Faust app: where a booking's plan is kept and fired.

One agent reads two co-partitioned topics in order: booking events, and the
ticks a timer sends to each partition this worker owns. Every table write
therefore happens inside the stream, on the partition of the record being
processed, so a patient's plan always lives on the partition of its events.
This module only declares the topics, the table, the agent and the timer; what
is done with each record is :class:`handling.WorkerHandling`, Faust-free.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import (
    Awaitable,
    Callable,
    ItemsView,
    Iterator,
    MutableMapping,
    ValuesView,
)
from datetime import timedelta
from typing import Any, cast

import faust
from faust.types import AppT, TableT

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Keeping, Scheduler
from services.reminders.settings import ReminderSettings
from services.reminders.worker.batches import BATCH_MAX
from services.reminders.worker.changelog import held_changelog_table
from services.reminders.worker.faust_patches import (
    SHARED_STORE,
    one_by_one,
    use_checked_recovery,
    use_worker_transport,
)
from services.reminders.worker.handling import WorkerHandling
from services.reminders.worker.membership import Member, Registration
from services.reminders.worker.monitor import WorkerMonitor
from services.reminders.worker.purge import purge_key
from services.reminders.worker.resync import covering_resync
from services.reminders.worker.views import add_views
from services.shared.clock import Clock
from services.shared.kafka_access import KafkaAccess
from services.shared.metrics import PlatformMetrics
from services.shared.topics import Topics

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
    erasures = app.topic(topics.erasures, **options)
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
        Keeping(
            timedelta(days=settings.retention_finished_days),
            timedelta(days=settings.retention_cancelled_days),
        ),
        window=timedelta(hours=settings.due_window_hours),
    )
    scheduler.started_at = clock.now()

    def owned() -> list[int]:
        return owned_partitions(app, topics.ticks)

    outbound = FaustOutbound(app, due, status, dead, topics, erasures)
    handling = WorkerHandling(
        scheduler,
        outbound,
        clock,
        metrics,
        topics,
        settings.worker_id,
        owned,
        settings.erasure_keys,
        purge=lambda key, partition: purge_key(table, key, partition),
        forgetful_broker=settings.on_tansu,
        covered=lambda partitions: asyncio.to_thread(
            covering_resync, settings.kafka, settings.app_id, topics, partitions
        ),
    )
    use_checked_recovery(app, handling.on_lost)

    @table.on_recover
    async def index_recovered() -> None:
        """Index as soon as the table is whole again: the views count from the index."""
        handling.index_owned_partitions()

    @app.agent(inbound, name="plan")
    async def plan(stream: faust.StreamT[bytes]) -> None:
        async for event in one_by_one(stream, table):  # in batches: see batches.py
            await handling.on_record(event.message)

    member = Member(settings.worker_id, settings.web_url, settings.partitions)
    add_views(app, patients, scheduler, clock, metrics, owned, settings.web_token, member)
    registration = Registration(member, clock, outbound.worker_record)

    @app.task
    async def register() -> None:
        """Runs once the tables are recovered, just before the views open."""
        await registration.join()

    async def unregister(sender: object, **kwargs: Any) -> None:
        """After the consumer stops, before the producer's last flush."""
        await registration.leave()

    # cast: mode's handler type (mypy_extensions' NamedArg) matches no function under mypy.
    app.on_before_shutdown.connect(cast(Any, unregister))

    @app.timer(interval=settings.tick_interval_seconds)
    async def send_ticks() -> None:
        for partition in owned():
            await ticks.send(value=b"", partition=partition)

    return app


def changelog_topics(app: faust.App) -> dict[str, dict[str, str]]:
    """Each table's changelog topic and the settings Faust would give it (compacted)."""
    return {
        table.changelog_topic.get_topic_name(): {"cleanup.policy": "compact"}
        for table in app.tables.values()
    }


def owned_partitions(app: AppT, ticks_topic: str) -> list[int]:
    """The partitions this worker fires: those of the ticks topic it holds now."""
    return sorted(tp.partition for tp in app.consumer.assignment() if tp.topic == ticks_topic)


class FaustOutbound:
    """:class:`handling.Outbound` over the app's topics and producer."""

    def __init__(
        self,
        app: faust.App,
        due: faust.TopicT,
        status: faust.TopicT,
        dead: faust.TopicT,
        topics: Topics,
        erasures: faust.TopicT,
    ) -> None:
        self._app, self._due, self._status, self._dead = app, due, status, dead
        self._control, self._workers, self._erasures = topics.control, topics.workers, erasures

    async def due(self, key: bytes, value: bytes) -> Awaitable[Any]:
        sent: Awaitable[Any] = await self._due.send(key=key, value=value)
        return sent

    async def status(self, key: bytes, value: bytes) -> None:
        await self._status.send(key=key, value=value)

    async def dead_letter(self, key: bytes | None, value: bytes) -> None:
        await self._dead.send(key=key, value=value)

    async def control(self, key: bytes, value: bytes) -> None:
        await self._app.producer.send_and_wait(self._control, key, value, 0, None, None)

    async def erasure(self, key: bytes, value: bytes) -> None:
        await self._erasures.send(key=key, value=value)

    async def worker_record(self, key: bytes, value: bytes | None) -> None:
        """This worker's registration (None: its tombstone), waited for."""
        await self._app.producer.send_and_wait(self._workers, key, value, None, None, None)


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


ROCKSDB_OPTIONS = {"write_buffer_size": 4 * 1024**2, "max_write_buffer_number": 2}
"""Faust's defaults (64 MB buffers) are sized for far bigger tables; the block cache is
shared by every partition (``store.py``)."""

PRODUCER_OPTIONS: dict[str, Any] = {
    # A few milliseconds of linger lets changelog writes and due reminders share
    # produce requests under load.
    "producer_linger": 0.005,
    # A plan is about 8 KB, so Faust's default batch (16 KB, Kafka's own default)
    # held two: each send past that waited for a produce round trip, and the worker
    # spent a third of its time waiting on the broker. 256 KB batches take a whole
    # batch of plans in a few requests (1,223 bookings/s planned against 753 on Apache
    # Kafka, docs/benchmarks.md), well under the 1 MB a broker takes in one batch
    # (``message.max.bytes``).
    "producer_max_batch_size": 256 * 1024,
}


def faust_credentials(kafka: KafkaAccess) -> faust.SASLCredentials | None:
    """The service's Kafka login as Faust takes it (None: no login)."""
    if not kafka.logs_in:
        return None
    context = None
    if kafka.security_protocol == "SASL_SSL":
        context = ssl.create_default_context(cafile=str(kafka.ca_file) if kafka.ca_file else None)
    password = kafka.password.get_secret_value() if kafka.password else None
    return faust.SASLCredentials(
        username=kafka.username, password=password, ssl_context=context, mechanism=kafka.mechanism
    )


def _app_options(settings: ReminderSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        # Faust's list of brokers is URLs joined by ";", not Kafka's "host:port,host:port".
        "broker": ";".join(f"kafka://{a.strip()}" for a in settings.bootstrap_servers.split(",")),
        "broker_credentials": faust_credentials(settings.kafka),
        "store": f"{SHARED_STORE}://" if settings.worker_store == "rocksdb" else "memory://",
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
        # Faust's leader election is unused here; its topic would be one more, made by
        # Faust with one replica (the changelogs are made by the worker: changelog_topics).
        "topic_disable_leader": True,
        "processing_guarantee": "at_least_once",
        "broker_session_timeout": settings.session_timeout_seconds,
        "broker_heartbeat_interval": min(1.0, settings.session_timeout_seconds / 5),
        "consumer_auto_offset_reset": "earliest",
        "table_standby_replicas": 0,
        **PRODUCER_OPTIONS,
    }
    return options
