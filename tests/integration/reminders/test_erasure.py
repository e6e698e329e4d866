"""An erased patient's plan leaves the worker's table and its changelog, on the real broker.

The worker deletes the table key when it reads ``patient.erased``: Faust writes
a tombstone to the changelog, so a worker that rebuilds the table from the
changelog alone (an empty data directory) never sees the plan again.
"""

from __future__ import annotations

import json
import time
import urllib.error
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.shared.broker import EmbeddedBroker
from services.shared.clock import ScaledClock
from services.shared.erasure import ErasureRecord, PatientErased
from services.shared.events import decode, encode
from services.shared.offsets import true_ends
from services.shared.topics import Topics
from tests.integration.reminders.worker import Worker, publish
from tests.support.kafka import produce
from tests.unit.reminders.factories import booking, event

pytestmark = pytest.mark.integration

PARTITIONS = 4
GONE = {"phone": "+447700900987", "first_name": "Wilhelmina"}


def on_disk(folder: Path, text: str) -> list[str]:
    """The files of the worker's data directory whose bytes hold ``text``."""
    return [
        str(f)
        for f in (folder / "reminders").rglob("*")
        if f.is_file() and text.encode() in f.read_bytes()
    ]


def test_the_plan_goes_from_the_table_and_its_changelog_and_stays_gone(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path
) -> None:
    clock = ScaledClock(scale=60.0, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    now = clock.now()
    made = [
        booking(f"bk-{p}", p, start=now + timedelta(days=20), booked_at=now) for p in ("p-1", "p-2")
    ]
    made[0] = made[0].model_copy(update={"patient": made[0].patient.model_copy(update=GONE)})
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    first = Worker(broker.bootstrap, topics, tmp_path / "first", clock).start()
    try:
        first.wait_ready()
        publish(broker.bootstrap, topics.bookings, [event(b) for b in made])
        wait_for_view(first, "p-1", present=True)
        wait_for_view(first, "p-2", present=True)
        assert on_disk(tmp_path / "first", GONE["phone"]), "the plan is in RocksDB's log"
        erased = PatientErased(clinic_id="dr-jenny", patient_id="p-1", erased_at=clock.now())
        produce(broker.bootstrap, topics.bookings, erased.key, encode(erased))
        wait_for_view(first, "p-1", present=False)
        assert first.view("/reminders/stats")["patients"] == 1
        assert on_disk(tmp_path / "first", GONE["phone"]) == [], "flushed and compacted away"
        assert on_disk(tmp_path / "first", "+447700900123"), "p-2's plan is still there"
    finally:
        first.stop()

    latest = latest_values(broker.bootstrap, f"{topics.prefix}clinic-reminders-patients-changelog")
    assert latest["dr-jenny:p-1"] is None, "the last changelog record of p-1 is a tombstone"
    assert latest["dr-jenny:p-2"] is not None
    [record] = [
        decode(ErasureRecord, value)
        for value in every_value(broker.bootstrap, topics.erasures)
        if b'"service":"reminders"' in value
    ]
    assert (record.erasure_id, record.counts["plans"]) == (erased.erasure_id, 1)
    assert "p-1" not in record.model_dump_json()

    second = Worker(broker.bootstrap, topics, tmp_path / "second", clock).start()
    try:
        second.wait_ready()
        wait_for_view(second, "p-2", present=True)
        with pytest.raises(urllib.error.HTTPError):
            second.view("/reminders/patients/dr-jenny/p-1")
    finally:
        second.stop()


def wait_for_view(worker: Worker, patient: str, present: bool, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            worker.view(f"/reminders/patients/dr-jenny/{patient}")
            found = True
        except urllib.error.HTTPError:
            found = False
        if found is present:
            return
        time.sleep(0.2)
    raise AssertionError(f"{patient} {'never' if present else 'still'} planned\n{worker.log()}")


def latest_values(bootstrap: str, topic: str) -> dict[str, bytes | None]:
    """The last value of each key of ``topic`` read to its exact end (None: a tombstone)."""
    latest: dict[str, bytes | None] = {}
    for key, value in records(bootstrap, topic):
        text = key.decode()
        latest[json.loads(text) if text.startswith('"') else text] = value
    return latest


def every_value(bootstrap: str, topic: str) -> list[bytes]:
    return [value for _, value in records(bootstrap, topic) if value is not None]


def records(bootstrap: str, topic: str) -> list[tuple[bytes, bytes | None]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        ends = true_ends(consumer, consumer.end_offsets(tps))
        consumer.assign(tps)
        consumer.seek_to_beginning()
        found: list[tuple[bytes, bytes | None]] = []
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for batch in consumer.poll(timeout_ms=500).values():
                found.extend((r.key, r.value) for r in batch)
        return found
    finally:
        consumer.close()
