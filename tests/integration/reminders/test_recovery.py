"""A worker's table rebuilt from its batched changelog holds every plan written.

The embedded broker reports a partition's end as its last batch's base offset
+ 1. The worker batches its changelog writes and reads exact ends when it
recovers; these tests show both halves on the real broker.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.apache_kafka import ApacheKafka
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ScaledClock
from services.shared.offsets import read_true_ends, true_ends
from services.shared.topics import Topics, ensure_topics
from tests.integration.reminders.worker import Worker, publish
from tests.unit.reminders.factories import booking, event

pytestmark = [pytest.mark.integration, pytest.mark.both_brokers]

REGISTRY = ProtocolRegistry.builtin()


def test_true_ends_count_every_record_of_a_batch(broker: EmbeddedBroker, topics: Topics) -> None:
    ensure_topics(broker.bootstrap, [topics.due], 1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=200, acks="all")
    for n in range(50):
        producer.send(topics.due, key=b"k", value=str(n).encode(), partition=0)
    producer.flush()
    producer.close()
    tp = TopicPartition(topics.due, 0)
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap)
    reported = consumer.end_offsets([tp])[tp]
    consumer.close()
    assert reported <= 50
    assert read_true_ends(broker.bootstrap, {tp: reported}) == {tp: 50}
    if isinstance(broker, ApacheKafka):
        # Apache Kafka reports the true end: there the worker runs without the correction
        # (CLINIC_ON_TANSU=false), and the recovery tests below rebuild every plan so.
        assert reported == 50


def test_a_new_worker_rebuilds_every_plan_from_the_changelog_alone(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path
) -> None:
    clock = ScaledClock(scale=60.0, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    now = clock.now()
    bookings = [
        booking(f"bk-r{i}", f"p-r{i}", start=now + timedelta(days=60, minutes=i), booked_at=now)
        for i in range(1500)
    ]
    pending = sum(len(plan_patient([b], REGISTRY, ClinicPolicy())) for b in bookings)
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = Worker(broker.bootstrap, topics, tmp_path / "first", clock).start()
    first.wait_ready()
    publish(broker.bootstrap, topics.bookings, [event(b) for b in bookings])
    changelog = f"{topics.prefix}clinic-reminders-patients-changelog"
    try:
        written = _wait_for_patients(first, len(bookings), 60)
        # Changelog writes are buffered: they land shortly after the worker counts them.
        reported, exact = _wait_for_changelog(broker.bootstrap, changelog, len(bookings), 30)
    finally:
        first.stop(signal.SIGKILL)
    assert (written["patients"], written["pending"]) == (len(bookings), pending)
    print(f"changelog ends reported {sum(reported.values())}, exact {sum(exact.values())}")
    assert sum(exact.values()) == len(bookings)

    second = Worker(broker.bootstrap, topics, tmp_path / "second", clock).start()
    try:
        second.wait_ready()
        rebuilt = second.view("/reminders/stats")
        assert (rebuilt["patients"], rebuilt["pending"]) == (len(bookings), pending), second.log()
        last = bookings[-1]
        plan = second.view(f"/reminders/patients/{last.clinic_id}/{last.patient.id}")
        assert [b["booking_id"] for b in plan["bookings"]] == [last.booking_id]
    finally:
        second.stop()


def _wait_for_patients(worker: Worker, count: int, timeout: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    stats = worker.view("/reminders/stats")
    while stats["patients"] < count and time.monotonic() < deadline:
        time.sleep(0.2)
        stats = worker.view("/reminders/stats")
    return {"patients": stats["patients"], "pending": stats["pending"]}


def _wait_for_changelog(
    bootstrap: str, changelog: str, count: int, timeout: float
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """The changelog's reported and exact ends, once the exact ones reach ``count`` in all."""
    parts = [TopicPartition(changelog, p) for p in range(4)]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    deadline = time.monotonic() + timeout
    try:
        while True:
            reported = consumer.end_offsets(parts)
            exact = true_ends(consumer, reported)
            if sum(exact.values()) >= count or time.monotonic() > deadline:
                return reported, exact
            time.sleep(0.1)
    finally:
        consumer.close()


def test_a_worker_stopped_mid_load_leaves_every_plan_it_made_in_the_changelog(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path
) -> None:
    """A stopped worker commits what it acknowledged: those plans must be in the changelog.

    The second worker starts on an empty data directory: events the first one
    committed it will not be given again, so a plan made from one of them but
    never sent to the changelog would be missing for good.
    """
    clock = ScaledClock(scale=60.0, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    now = clock.now()
    bookings = [
        booking(f"bk-m{i}", f"p-m{i}", start=now + timedelta(days=60, minutes=i), booked_at=now)
        for i in range(8000)
    ]
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = Worker(broker.bootstrap, topics, tmp_path / "first", clock).start()
    try:
        first.wait_ready()
        publish(broker.bootstrap, topics.bookings, [event(b) for b in bookings])
        stopped_at = _wait_for_patients(first, 1500, 60)["patients"]
    finally:
        first.stop()  # SIGTERM while the backlog is being worked through
    assert stopped_at < len(bookings), "the first worker finished before it was stopped"

    second = Worker(broker.bootstrap, topics, tmp_path / "second", clock).start()
    try:
        second.wait_ready()
        done = _wait_for_patients(second, len(bookings), 60)
        assert done["patients"] == len(bookings), second.log()
    finally:
        second.stop()
