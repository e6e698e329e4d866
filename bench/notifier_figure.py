"""Due reminders rendered and handed to the local sinks, against the notifier's I/O floor."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

from bench.bookings import Record, future_bookings
from bench.floor_notifier import FloorNotifier
from bench.kafka_io import produce, raw_consume
from bench.result import Figure
from bench.stack import PARTITIONS
from services.notifier.bootstrap import POLL_RECORDS, notifier
from services.notifier.settings import NotifierSettings
from services.reminders.planning.engine import ClinicPolicy, due_event, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.clock import ScaledClock
from services.shared.events import encode
from services.shared.topics import Topics, ensure_topics

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
RATIO = 0.4
"""Reminders delivered to the sinks, as a share of what the I/O floor delivers of them."""
POSTGRESQL_SHARE = 0.85
"""The end-to-end figure with the ledger on PostgreSQL, as a share of it on SQLite."""


def due_records(count: int, per_patient: int | None = None) -> tuple[list[Record], int]:
    """``count`` due reminders of booked treatments, and how many messages they make.

    ``per_patient``: at most that many of each patient's (a burst at a fixed hour
    is one reminder each of many patients); all of their plans otherwise.
    """
    registry, policy = ProtocolRegistry.builtin(), ClinicPolicy()
    records: list[tuple[Record, int]] = []
    for made in future_bookings(count, "e2e", NOW):
        for planned in plan_patient([made], registry, policy)[:per_patient]:
            due = due_event(made, planned, NOW)
            records.append(((due.key.encode(), encode(due)), len(due.channels)))
    kept = records[:count]
    return [r for r, _ in kept], sum(n for _, n in kept)


def run(
    bootstrap: str,
    var_dir: Path,
    count: int,
    database_url: str | None = None,
    floor_database_url: str | None = None,
) -> Figure:
    """Run the notifier loop in this process until the sinks hold every message, then
    its I/O floor (:mod:`bench.floor_notifier`) over the same records on topics of its
    own. Each ledger is on the SQLite default of its own folder, or in the databases
    ``database_url`` and ``floor_database_url`` name (both or neither)."""
    records, messages = due_records(count)
    on = "" if database_url is None else "-" + database_url.split(":", 1)[0].split("+")[0]
    settings = _settings(bootstrap, var_dir / f"e2e{on}", database_url)
    rate = _deliver_all(settings, messages, len(records), records)
    floor_settings = _settings(bootstrap, var_dir / f"e2e{on}-floor", floor_database_url)
    floor = _floor(floor_settings, messages, len(records), records)
    raw = raw_consume(bootstrap, settings.topics.due, PARTITIONS, len(records))
    return Figure(
        f"end-to-end{on}",
        rate,
        "reminders/s",
        floor,
        "io-floor reminders/s",
        target=f">= {RATIO} of the floor",
        met=rate >= RATIO * floor,
        extra={
            "reminders": len(records),
            "messages": messages,
            "sink": "local jsonl",
            "ledger": settings.database_url.split(":", 1)[0],
            "raw_consume_per_s": round(raw),
        },
    )


def postgresql_share(sqlite: Figure, postgresql: Figure) -> Figure:
    """The end-to-end figure on PostgreSQL as a share of the one on SQLite, same run."""
    return Figure(
        "postgresql-vs-sqlite",
        postgresql.value,
        "reminders/s",
        sqlite.value,
        "sqlite reminders/s",
        target=f">= {POSTGRESQL_SHARE} of sqlite",
        met=postgresql.value >= POSTGRESQL_SHARE * sqlite.value,
    )


def _settings(bootstrap: str, var_dir: Path, database_url: str | None) -> NotifierSettings:
    """A notifier's settings on topics of its own, with the due records published."""
    topics = Topics(f"bench-{var_dir.name}-{int(time.time())}.")
    settings = NotifierSettings(
        bootstrap_servers=bootstrap,
        topic_prefix=topics.prefix,
        var_dir=var_dir,
        default_quiet_hours="",
        notifier_database_url=database_url,
    )
    with contextlib.suppress(FileExistsError):
        settings.var_dir.mkdir(parents=True)
    ensure_topics(bootstrap, topics.all(), PARTITIONS)
    return settings


def _floor(
    settings: NotifierSettings, messages: int, reminders: int, records: list[Record]
) -> float:
    """Reminders per second through the I/O floor, from its first poll to its last line."""
    produce(settings.bootstrap_servers, settings.topics.due, records)
    consumer = assigned_consumer(settings)
    try:
        floor = FloorNotifier(consumer, settings.database_url, settings.outbox_dir)
        return reminders / floor.deliver(messages)
    finally:
        consumer.close()


def assigned_consumer(settings: NotifierSettings) -> KafkaConsumer:
    """A consumer like the notifier's, given every partition of the due topic at once
    (no group join to wait for)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.consumer_group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=POLL_RECORDS,
    )
    consumer.assign([TopicPartition(settings.topics.due, p) for p in range(PARTITIONS)])
    return consumer


def _deliver_all(
    settings: NotifierSettings, messages: int, reminders: int, records: list[Record]
) -> float:
    produce(settings.bootstrap_servers, settings.topics.due, records)
    consumer = assigned_consumer(settings)
    stop = threading.Event()
    clock = ScaledClock(scale=1.0, start=NOW)
    with (
        open(os.devnull, "w") as quiet,
        contextlib.redirect_stdout(quiet),
        notifier(settings, clock, stop, consumer) as loop,
    ):
        thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
        began = time.perf_counter()
        thread.start()
        _wait_for_lines(settings.outbox_dir, messages, timeout=600)
        took = time.perf_counter() - began
        stop.set()
        thread.join(timeout=30)
    return reminders / took


def _wait_for_lines(outbox: Path, want: int, timeout: float) -> None:
    """Block until the sinks hold ``want`` lines, reading only what was appended since the
    last look: a full count every look took a tenth of the process's time from the
    notifier it measures (they share one interpreter)."""
    counters = [_LineCounter(outbox / name) for name in ("sms.jsonl", "email.jsonl")]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(counter.count() for counter in counters) >= want:
            return
        time.sleep(0.02)
    raise TimeoutError(f"the sinks hold fewer than {want} messages after {timeout}s")


class _LineCounter:
    """Lines in a file that is only appended to, counted from where the last look ended."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = 0
        self._lines = 0

    def count(self) -> int:
        try:
            with self._path.open("rb") as f:
                f.seek(self._offset)
                appended = f.read()
        except FileNotFoundError:
            return 0
        self._offset += len(appended)
        self._lines += appended.count(b"\n")
        return self._lines
