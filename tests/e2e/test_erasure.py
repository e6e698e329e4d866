"""A patient erased on request leaves no trace the platform can show, on the real platform.

The platform runs as ``make run`` starts it (embedded broker, the three services,
local sinks) at x7200. A clinic books Wilhelmina (and Jane, who stays), texts and
emails go out, Wilhelmina texts back twice (a confirmation and a message for the
inbox), and the clinic erases her with ``DELETE /v1/clinics/dr-jenny/patients/p-erase``.
Then every store, every topic, the sinks and the logs of the run are searched
for her phone number, email address and name.

What stays, and why (docs/decisions.md, "What an erasure leaves on the broker"):
Kafka topics are append-only logs, so the records published about her before the
erasure stay on the topics that carry patients' details until retention removes
them: the bookings topic (her booking events), the due topic (her reminders) and
the worker's changelog (her plan, until compaction; the last record of her key is
a tombstone). This test allows exactly that: on those three topics only, and only
records written before the erasure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import MetaData, create_engine, select

from services.shared.erasure import ErasureRecord, PatientErased
from services.shared.events import ReminderDue, decode
from services.shared.offsets import true_ends
from services.shared.topics import Topics
from tests.e2e.platform import Platform, running
from tests.e2e.test_platform import booking_body

pytestmark = pytest.mark.e2e

SCALE = 7200.0
START = datetime(2026, 11, 16, 8, 30, tzinfo=UTC)
PHONE, EMAIL, NAME = "+447700900987", "wilhelmina.erase@example.com", "Wilhelmina"
TRACES = (PHONE, EMAIL, NAME, PHONE[1:], "07700 900987", "wilhelmina.erase")
TOPICS = Topics()
CHANGELOG = "clinic-reminders-patients-changelog"
KEPT_UNTIL_RETENTION = {TOPICS.bookings, TOPICS.due, CHANGELOG}
"""Topics whose records about her, published before the erasure, stay until retention."""


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running(tmp_path / "var", SCALE, START) as started:
        yield started


def wilhelmina(booking_id: str, start: datetime) -> dict[str, Any]:
    body = booking_body(booking_id, "p-erase", start)
    body["patient"].update({"first_name": NAME, "phone": PHONE, "email": EMAIL})
    return body


def test_an_erased_patient_leaves_no_trace_but_what_the_broker_keeps_until_retention(
    platform: Platform,
) -> None:
    now = platform.now()
    platform.post("/v1/bookings", wilhelmina("bk-e1", now + timedelta(hours=50)))
    platform.post("/v1/bookings", wilhelmina("bk-e2", now + timedelta(days=40)))
    platform.post("/v1/bookings", booking_body("bk-k1", "p-keep", now + timedelta(hours=50)))
    wait_for(lambda: sent_to(platform, PHONE, EMAIL) and sent_to(platform, "+447700900123"))
    reply(platform, "SMe2e0000000000000000000000000001", "C")
    reply(platform, "SMe2e0000000000000000000000000002", f"Could we make it later? {NAME}")
    wait_for(lambda: "booking.confirmed" in event_types(platform, "bk-e1"))

    answer = httpx.delete(f"{platform.booking_url}/v1/clinics/dr-jenny/patients/p-erase")
    assert answer.status_code == 200, answer.text
    erased = answer.json()
    assert erased["erased"]["bookings"] == 2 and erased["erased"]["booking_events"] >= 3
    records = wait_for(lambda: followers(platform, erased["erasure_id"]))
    counts = {r.service: r.counts for r in records}
    assert counts["reminders"]["plans"] == 1
    assert counts["notifier"]["replies"] == 1 and counts["notifier"]["inbound"] == 2
    assert counts["notifier"]["sms_lines"] >= 1 and counts["notifier"]["email_lines"] >= 1
    refused = httpx.post(f"{platform.booking_url}/v1/bookings", json=wilhelmina("bk-e1", now))
    assert refused.status_code == 409, refused.text

    topics = read_every_topic(platform)
    when = datetime.fromisoformat(erased["erased_at"])
    erased_at = erasure_offsets(topics[TOPICS.bookings])
    for topic, found in topics.items():
        for partition, offset, key, value in found:
            text = (key or b"").decode(errors="replace") + " " + (value or b"").decode("latin-1")
            traces = [t for t in TRACES if t in text]
            if not traces:
                continue
            assert topic in KEPT_UNTIL_RETENTION, (topic, partition, offset, traces)
            if topic == TOPICS.bookings:
                assert offset < erased_at[partition], "a booking event of hers after the erasure"
            if topic == TOPICS.due:
                due = decode(ReminderDue, value or b"")
                assert due.emitted_at <= when, "a reminder of hers emitted after the erasure"
    plans = {k: v for _, _, k, v in topics[CHANGELOG] if k and b"p-erase" in k}
    assert plans and list(plans.values())[-1] is None, "her plan's last changelog record"
    assert sent_to(platform, "+447700900123"), "Jane's messages stay"

    stores = dump(platform.var_dir / "booking.db") + dump(platform.var_dir / "notifier.db")
    assert "p-keep" in stores and "bk-k1" in stores
    sinks = "".join(p.read_text() for p in (platform.var_dir / "outbox").glob("*.jsonl"))
    assert platform.stop() == 0
    logs = "\n".join(platform.lines) + (platform.var_dir / "broker.log").read_text(errors="replace")
    for name, text in (("stores", stores), ("sinks", sinks), ("logs", logs)):
        assert [t for t in TRACES if t in text] == [], name
    # Her id is left only in the published outbox row of the erasure itself (the key it
    # was published under), until the retention sweep removes published outbox rows.
    named = [line for line in stores.splitlines() if "p-erase" in line]
    assert named and all(line.startswith("outbox: ") and "patient.erased" in line for line in named)
    # Not only the rows: the files under var/ (both databases, the worker's RocksDB with
    # its logs, the sinks) hold none of her bytes once the platform has stopped.
    files = [f for f in platform.var_dir.rglob("*") if f.is_file()]
    assert [str(f) for f in files if any(t.encode() in f.read_bytes() for t in TRACES)] == []


def wait_for(check: Any, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.3)
    return found


def sent_to(platform: Platform, *addresses: str) -> bool:
    return all(
        any(m["to"] == address for channel in ("sms", "email") for m in platform.sent(channel))
        for address in addresses
    )


def reply(platform: Platform, sid: str, body: str) -> None:
    form = {"From": PHONE, "To": "+447000000000", "Body": body, "MessageSid": sid}
    answer = httpx.post(f"{platform.notifier_url}/v1/twilio/inbound", data=form, timeout=10)
    assert answer.status_code == 200, answer.text


def event_types(platform: Platform, booking_id: str) -> list[str]:
    url = f"{platform.booking_url}/v1/bookings/{booking_id}/events"
    return [e["type"] for e in httpx.get(url, timeout=10).json().get("events", [])]


def followers(platform: Platform, erasure_id: str) -> list[ErasureRecord]:
    found = [
        decode(ErasureRecord, value)
        for _, _, _, value in read_every_topic(platform, [TOPICS.erasures])[TOPICS.erasures]
        if value and erasure_id.encode() in value
    ]
    services = {r.service for r in found}
    return found if {"booking", "reminders", "notifier"} <= services else []


Found = list[tuple[int, int, bytes | None, bytes | None]]


def read_every_topic(platform: Platform, only: list[str] | None = None) -> dict[str, Found]:
    """Every record of every topic on the broker (or of ``only``), to its exact end."""
    consumer = KafkaConsumer(
        bootstrap_servers=platform.env["CLINIC_BOOTSTRAP_SERVERS"], enable_auto_commit=False
    )
    try:
        names = only or sorted(consumer.topics())
        parts = [
            TopicPartition(topic, p)
            for topic in names
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]
        ends = true_ends(consumer, consumer.end_offsets(parts))
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        found: dict[str, Found] = {name: [] for name in names}
        deadline = time.monotonic() + 30
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            assert time.monotonic() < deadline, "topics not read to their ends"
            for tp, batch in consumer.poll(timeout_ms=300).items():
                found[tp.topic] += [(tp.partition, r.offset, r.key, r.value) for r in batch]
        return found
    finally:
        consumer.close()


def erasure_offsets(bookings: Found) -> dict[int, int]:
    """The offset of the patient's erasure on each partition of the bookings topic."""
    return {
        partition: offset
        for partition, offset, _, value in bookings
        if value and b'"patient.erased"' in value and decode(PatientErased, value)
    }


def dump(path: Path) -> str:
    """Every row of every table of a SQLite database, as text."""
    engine = create_engine(f"sqlite:///{path}")
    tables = MetaData()
    tables.reflect(engine)
    try:
        with engine.connect() as conn:
            return "\n".join(
                f"{t.name}: {row}" for t in tables.sorted_tables for row in conn.execute(select(t))
            )
    finally:
        engine.dispose()
