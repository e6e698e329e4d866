"""On the real broker: ``clinic-reminders patient erase`` and what the ops views then hide.

The dead-letter topics are append-only; an erased patient's letters stay there
until retention, but ``dlq list``, ``show`` and ``replay`` no longer see them.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.booking.publishing.relay import OutboxRelay
from services.booking.store.store import BookingStore
from services.cli import main
from services.notifier.bootstrap import notifier
from services.notifier.settings import NotifierSettings
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock, ScaledClock
from services.shared.events import DeadLetter, encode
from services.shared.topics import Topics
from tests.support.kafka import assigned_consumer, produce
from tests.support.reminders import patient, reminder

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
GONE = patient(id="p-gone", first_name="Wilhelmina", phone="+447700900987")


@pytest.fixture
def erasing(ops_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The ops environment with the platform's clock at NOW, as the booking service has it."""
    monkeypatch.setenv("CLINIC_CLOCK_START", NOW.isoformat())
    return ops_env


@pytest.fixture
def relay(erasing: Path, broker: EmbeddedBroker) -> Iterator[OutboxRelay]:
    """The booking service's outbox relay over the store the commands write."""
    erasing.mkdir(parents=True, exist_ok=True)
    store = BookingStore(f"sqlite:///{erasing / 'booking.db'}")
    publishing = OutboxRelay(store, broker.bootstrap, ScaledClock(start=NOW), poll_seconds=0.1)
    publishing.start()
    yield publishing
    publishing.stop()
    store.close()


def letter(key: str | None, payload: str, at: datetime, topic: str) -> bytes:
    dead = DeadLetter(
        service="notifier", topic=topic, key=key, payload=payload, reason="x", occurred_at=at
    )
    return encode(dead)


def cli_json(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> Any:
    capsys.readouterr()
    assert main([*args, "--json"]) == code
    return json.loads(capsys.readouterr().out)


@pytest.mark.usefixtures("relay")
def test_an_erased_patients_dead_letters_are_neither_listed_shown_nor_replayed(
    broker: EmbeddedBroker, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    before, after = NOW - timedelta(hours=1), NOW + timedelta(days=1)
    gone_due = reminder(patient=GONE).model_dump_json()
    for key, payload, at in (
        ("dr-jenny:p-gone", "{}", before),  # by its key
        (None, gone_due, before),  # by its payload
        ("dr-jenny:p-42", reminder().model_dump_json(), before),  # Jane's
        ("dr-jenny:p-gone", gone_due, after),  # the patient came back after the erasure
    ):
        produce(
            broker.bootstrap, topics.notifications_dlq, key, letter(key, payload, at, topics.due)
        )
    assert len(cli_json(capsys, "dlq", "list")) == 4

    erased = cli_json(
        capsys, "patient", "erase", "--clinic", "dr-jenny", "--patient", "p-gone", "--wait", "0"
    )
    [booking_record] = erased["records"]
    assert booking_record["service"] == "booking" and "p-gone" not in json.dumps(erased)
    deadline = datetime.now(UTC) + timedelta(seconds=20)
    while len(listed := cli_json(capsys, "dlq", "list")) == 4:
        assert datetime.now(UTC) < deadline, "the erasure never reached the broker"

    assert [(x["key"], x["occurred_at"]) for x in listed] == [
        ("dr-jenny:p-42", before.isoformat()),
        ("dr-jenny:p-gone", after.isoformat()),
    ]
    hidden = next(f"notifications:{p}:{o}" for p, o in _coordinates(broker, topics, "{}"))
    assert main(["dlq", "show", hidden]) == 2
    replayed = cli_json(capsys, "dlq", "replay", "--all")
    assert len(replayed) == 2


def test_erase_reports_each_service_that_answered_and_names_the_one_that_did_not(
    broker: EmbeddedBroker,
    topics: Topics,
    group_id: str,
    erasing: Path,
    relay: OutboxRelay,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = NotifierSettings(
        bootstrap_servers=broker.bootstrap,
        topic_prefix=topics.prefix,
        var_dir=erasing,
        consumer_group=group_id,
    )
    stop = threading.Event()
    consumer = assigned_consumer(broker.bootstrap, topics.due, group_id)
    with notifier(settings, ManualClock(NOW), stop, consumer) as running:
        thread = threading.Thread(target=running.run, args=(stop,), daemon=True)
        thread.start()
        try:
            answer = cli_json(
                capsys,
                *("patient", "erase", "--clinic", "dr-jenny", "--patient", "p-gone"),
                *("--wait", "8", "--by", "Dr Jenny's front desk"),
                code=1,
            )
        finally:
            stop.set()
            thread.join(timeout=10)

    services = [r["service"] for r in answer["records"]]
    assert services == ["booking", "notifier"]
    assert "no word yet from reminders" in answer["note"]
    assert answer["records"][0]["requested_by"] == "cli: Dr Jenny's front desk"
    assert len({r["patient_hash"] for r in answer["records"]}) == 1
    trail = cli_json(capsys, "patient", "erasures")
    assert sorted(r["service"] for r in trail["records"]) == ["booking", "notifier"]


def _coordinates(broker: EmbeddedBroker, topics: Topics, payload: str) -> list[tuple[int, int]]:
    consumer = assigned_consumer(broker.bootstrap, topics.notifications_dlq)
    try:
        found: list[tuple[int, int]] = []
        for batch in consumer.poll(timeout_ms=3000).values():
            found += [
                (r.partition, r.offset) for r in batch if json.loads(r.value)["payload"] == payload
            ]
        return found
    finally:
        consumer.close()
