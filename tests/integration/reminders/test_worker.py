"""The reminders worker on the real broker: on time, cancellable, dead-letters bad input."""

from __future__ import annotations

import json
import signal
import time
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ScaledClock
from services.shared.events import BookingEventType, BookingStatus
from services.shared.topics import Topics
from tests.integration.reminders.worker import DueReader, Worker, publish
from tests.unit.reminders.factories import booking, event

pytestmark = pytest.mark.integration

SCALE = 7200.0  # two platform hours per real second
REGISTRY = ProtocolRegistry.builtin()
REPORTED = ClinicPolicy(attendance="reported")
"""These tests time the reminders of a booking; aftercare waits for an attended event."""


@pytest.fixture
def clock() -> ScaledClock:
    return ScaledClock(scale=SCALE, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))


@pytest.fixture
def worker(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path, clock: ScaledClock
) -> Iterator[Worker]:
    clinics = tmp_path / "clinics.yaml"
    clinics.write_text("dr-jenny: {name: Dr Jenny, attendance: reported}\n")
    running = Worker(broker.bootstrap, topics, tmp_path, clock)
    running.env["CLINIC_CLINICS_FILE"] = str(clinics)
    running.start().wait_ready()
    yield running
    running.stop()


def made_now(clock: ScaledClock, booking_id: str, patient_id: str, hours_ahead: float):  # type: ignore[no-untyped-def]
    now = clock.now()
    return booking(booking_id, patient_id, start=now + timedelta(hours=hours_ahead), booked_at=now)


def real_time_of(clock: ScaledClock, instant: datetime) -> float:
    return clock.anchor + (instant - clock.start).total_seconds() / clock.scale


def test_each_reminder_is_emitted_once_within_a_second_of_its_due_time(
    broker: EmbeddedBroker, topics: Topics, clock: ScaledClock, worker: Worker
) -> None:
    made = made_now(clock, "bk-on-time", "p-1", hours_ahead=50)
    publish(broker.bootstrap, topics.bookings, [event(made)])
    expected = {r.reminder_id: r for r in plan_patient([made], REGISTRY, REPORTED)}
    reader = DueReader(broker.bootstrap, topics.due)
    got = reader.until(lambda seen: {d.reminder_id for d in seen} >= expected.keys(), 45)
    assert sorted(d.reminder_id for d in got) == sorted(expected), worker.log()
    for arrived, due in reader.received:
        lateness = arrived - real_time_of(clock, max(due.due_at, made.booked_at or due.due_at))
        assert -0.3 < lateness < 1.5, (due.milestone, lateness)
    stats = worker.view("/reminders/stats")
    assert stats["emitted"] == len(expected) and stats["patients"] == 1
    plan = worker.view("/reminders/patients/dr-jenny/p-1")
    assert set(plan["done"]) == set(expected)
    assert [b["booking_id"] for b in plan["bookings"]] == ["bk-on-time"]
    raw = worker.page("/reminders/patients/dr-jenny/p-1")
    for personal in ("Jane", "+447700900123", "jane@example.com", "microsclerotherapy"):
        assert personal not in raw, personal
    assert plan["bookings"][0]["patient"]["phone"] == "+4477...123"
    for view in ("/reminders/stats", "/reminders/patients/dr-jenny/p-1", "/reminders/bookings/x"):
        for token in (None, "not-the-token"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                worker.page(view, token=token)
            assert refused.value.code == 401, (view, token)
    one = worker.view("/reminders/bookings/bk-on-time?clinic=dr-jenny&patient=p-1")
    assert set(one["done"]) == set(expected)
    assert worker.view("/reminders/bookings/bk-on-time") == one
    with pytest.raises(urllib.error.HTTPError) as missing:
        worker.view("/reminders/bookings/bk-on-time?clinic=dr-jenny&patient=p-2")
    assert missing.value.code == 404
    scraped = worker.page("/metrics")
    produced = f'clinic_events_produced_total{{service="reminders",topic="{topics.due}"}}'
    assert f"{produced} {float(len(expected))}" in scraped
    assert "clinic_reminders_pending " in scraped
    for faust_page in ("/table/", "/table/patients/", "/router/", "/stats/"):
        with pytest.raises(urllib.error.HTTPError) as off:
            worker.page(faust_page)  # every patient's plan, to anyone who asked
        assert off.value.code == 404, faust_page


def test_cancelled_booking_never_emits(
    broker: EmbeddedBroker, topics: Topics, clock: ScaledClock, worker: Worker
) -> None:
    kept = made_now(clock, "bk-kept", "p-2", hours_ahead=50)
    dropped = made_now(clock, "bk-dropped", "p-3", hours_ahead=50)
    cancelled = dropped.model_copy(update={"status": BookingStatus.CANCELLED})
    publish(
        broker.bootstrap,
        topics.bookings,
        [event(kept), event(dropped), event(cancelled, BookingEventType.CANCELLED)],
    )
    reader = DueReader(broker.bootstrap, topics.due)
    reminder = [
        r for r in plan_patient([kept], REGISTRY, REPORTED) if r.milestone == "treatment-reminder"
    ]
    assert reminder, "the kept booking must have a day-before reminder"
    got = reader.until(lambda seen: any(d.milestone == "treatment-reminder" for d in seen), 30)
    assert any(d.booking_id == "bk-kept" and d.milestone == "treatment-reminder" for d in got)
    assert [
        d for d in got if d.booking_id == "bk-dropped" and d.milestone == "treatment-reminder"
    ] == []


def test_bad_events_go_to_the_dead_letter_topic_and_the_stream_goes_on(
    broker: EmbeddedBroker, topics: Topics, clock: ScaledClock, worker: Worker
) -> None:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    producer.send(topics.bookings, key=b"dr-jenny:p-9", value=b"{not json")
    unknown = made_now(clock, "bk-unknown", "p-9", hours_ahead=40).model_copy(
        update={"treatment": "tattoo-removal"}
    )
    producer.send(
        topics.bookings, key=b"dr-jenny:p-9", value=event(unknown).model_dump_json().encode()
    )
    producer.flush()
    good = made_now(clock, "bk-good", "p-9", hours_ahead=40)
    publish(broker.bootstrap, topics.bookings, [event(good)])
    letters = _read_all(broker.bootstrap, topics.bookings_dlq, want=2)
    reasons = [json.loads(v)["reason"] for v in letters]
    assert any("Invalid JSON" in r for r in reasons), reasons
    assert any("tattoo-removal" in r for r in reasons), reasons
    got = DueReader(broker.bootstrap, topics.due).until(
        lambda seen: any(d.booking_id == "bk-good" for d in seen), 20
    )
    assert any(d.booking_id == "bk-good" for d in got)


def test_worker_killed_mid_stream_loses_nothing(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path, clock: ScaledClock
) -> None:
    worker = Worker(broker.bootstrap, topics, tmp_path, clock).start()
    worker.wait_ready()
    bookings = [made_now(clock, f"bk-k{i}", f"p-k{i}", hours_ahead=50 + i) for i in range(20)]
    publish(broker.bootstrap, topics.bookings, [event(b) for b in bookings[:10]])
    expected = {r.reminder_id for r in plan_patient(bookings[:1], REGISTRY, REPORTED)}
    reader = DueReader(broker.bootstrap, topics.due)
    reader.until(lambda seen: bool(expected & {d.reminder_id for d in seen}), 20)
    worker.stop(signal.SIGKILL)
    publish(broker.bootstrap, topics.bookings, [event(b) for b in bookings[10:]])
    worker.start()
    worker.wait_ready(starts=2)
    try:
        wanted = set()
        for made in bookings:
            wanted |= {
                r.reminder_id
                for r in plan_patient([made], REGISTRY, REPORTED)
                if r.milestone == "treatment-reminder"
            }
        got = reader.until(lambda seen: {d.reminder_id for d in seen} >= wanted, 60)
        ids = [d.reminder_id for d in got]
        assert wanted <= set(ids), worker.log()
        repeats = len(ids) - len(set(ids))
        print(f"after kill -9: {len(set(ids))} distinct reminders, {repeats} repeated")
    finally:
        worker.stop()


def _read_all(bootstrap: str, topic: str, want: int, timeout_ms: int = 20000) -> list[bytes]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms
    )
    consumer.assign([TopicPartition(topic, p) for p in range(4)])
    values = []
    for record in consumer:
        values.append(record.value)
        if len(values) >= want:
            break
    consumer.close()
    return values


def test_reminders_due_beyond_the_memory_window_go_out_on_time_across_a_kill(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path
) -> None:
    """With a one-hour window (a quarter of a real second here), every day-before reminder
    is planned beyond it and waits on disk alone until time brings it within the window,
    including after a kill -9 that left the plans on disk."""
    clock = ScaledClock(scale=2 * SCALE, start=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    worker = Worker(broker.bootstrap, topics, tmp_path, clock)
    worker.env["CLINIC_CLINICS_FILE"] = str(tmp_path / "clinics.yaml")
    (tmp_path / "clinics.yaml").write_text("dr-jenny: {name: Dr Jenny, attendance: reported}\n")
    worker.env["CLINIC_DUE_WINDOW_HOURS"] = "1"
    worker.start().wait_ready()
    # Appointments 60 to 96 platform hours ahead: reminders due 9 to 18 real seconds on.
    bookings = [made_now(clock, f"bk-w{k}", f"p-w{k}", hours_ahead=60 + 4 * k) for k in range(10)]
    reader = DueReader(broker.bootstrap, topics.due)
    publish(broker.bootstrap, topics.bookings, [event(b) for b in bookings])
    try:
        wanted = _day_before_reminders(worker, bookings, timeout=20)
        assert len(wanted) >= 5 and min(wanted.values()) > clock.now() + timedelta(hours=20)
        worker.stop(signal.SIGKILL)
        worker.start()
        worker.wait_ready(starts=2)
        restarted = clock.now()
        reader.until(lambda seen: {d.reminder_id for d in seen} >= wanted.keys(), 40)
    finally:
        worker.stop()
        reader.close()
    sent = [(a, d) for a, d in reader.received if d.reminder_id in wanted]
    assert sorted(d.reminder_id for _, d in sent) == sorted(wanted), worker.log()
    after = [(a, d) for a, d in sent if d.due_at > restarted]  # a slow restart may miss some
    assert len(after) >= 3, (restarted, sorted(wanted.values()))
    for arrived, due in after:
        lateness = arrived - real_time_of(clock, due.due_at)
        assert -0.3 < lateness < 1.5, (due.booking_id, lateness)


def _day_before_reminders(
    worker: Worker, bookings: list[Any], timeout: float
) -> dict[str, datetime]:
    """The day-before reminders the worker planned for ``bookings``, by id, with their due
    times, once it has planned every booking."""
    deadline = time.monotonic() + timeout
    while True:
        plans = []
        for made in bookings:
            try:
                plans.append(worker.view(f"/reminders/patients/dr-jenny/{made.patient.id}"))
            except urllib.error.HTTPError:  # not planned yet
                break
        if len(plans) == len(bookings) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(plans) == len(bookings), worker.log()
    return {
        p["reminder_id"]: datetime.fromisoformat(p["due_at"])
        for plan in plans
        for p in plan["pending"]
        if p["milestone"] == "treatment-reminder"
    }
