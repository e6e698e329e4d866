"""``clinic-reminders dlq`` on the real broker, with the real notifier dead-lettering."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.cli import main
from services.notifier.bootstrap import notifier
from services.notifier.settings import NotifierSettings
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock
from services.shared.events import Channel, DeadLetter, encode
from services.shared.topics import Topics
from tests.support.kafka import TopicReader, assigned_consumer, produce
from tests.support.reminders import reminder
from tests.unit.reminders.factories import booking, event

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def running_notifier(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path
) -> Iterator[None]:
    (tmp_path / "templates" / "dr-jenny" / "en-GB").mkdir(parents=True)
    settings = NotifierSettings(
        bootstrap_servers=broker.bootstrap,
        topic_prefix=topics.prefix,
        var_dir=tmp_path / "notifier",
        consumer_group=group_id,
        templates_dir=tmp_path / "templates",
    )
    stop = threading.Event()
    consumer = assigned_consumer(broker.bootstrap, topics.due, group_id)
    with notifier(settings, ManualClock(NOW), stop, consumer) as loop:
        thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
        thread.start()
        yield
        stop.set()
        thread.join(timeout=10)


def dlq_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    assert main(["dlq", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def wait_for_letters(
    capsys: pytest.CaptureFixture[str], count: int, timeout: float = 20
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        letters: list[dict[str, Any]] = dlq_json(capsys, "list", "--topic", "notifications")
        if len(letters) >= count or time.monotonic() > deadline:
            assert len(letters) == count, letters
            return letters
        time.sleep(0.3)


@pytest.mark.usefixtures("ops_env", "running_notifier")
def test_a_replayed_record_that_still_fails_is_dead_lettered_again_and_nothing_is_lost(
    broker: EmbeddedBroker, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = b'{"type": "reminder.due", "patient": {"phone": "+447700900123"}}'
    produce(broker.bootstrap, topics.due, "dr-jenny:p-42", broken)

    [first] = wait_for_letters(capsys, 1)
    assert first["service"] == "notifier" and first["topic"] == topics.due
    assert first["key"] == "dr-jenny:p-42" and "clinic_id" in first["reason"]

    shown = dlq_json(capsys, "show", first["id"])
    assert shown["payload"]["patient"]["phone"] == "+4477...123"

    [landed] = dlq_json(capsys, "replay", first["id"])
    assert (landed["letter_id"], landed["topic"]) == (first["id"], topics.due)

    letters = wait_for_letters(capsys, 2)
    again = next(letter for letter in letters if letter["id"] != first["id"])
    assert (again["partition"], again["offset"]) == (landed["partition"], landed["offset"])
    assert again["reason"] == first["reason"] and again["key"] == first["key"]


@pytest.mark.usefixtures("ops_env", "running_notifier")
def test_a_failed_delivery_replayed_once_its_cause_is_fixed_is_sent_once(
    broker: EmbeddedBroker, topics: Topics, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    due = reminder(channels=(Channel.SMS,))  # its template "pre-treatment" is not written yet
    produce(broker.bootstrap, topics.due, due.key, encode(due))
    [letter] = wait_for_letters(capsys, 1)
    assert "template pre-treatment.sms.j2 not found" in letter["reason"]

    wording = tmp_path / "templates" / "dr-jenny" / "en-GB" / "pre-treatment.sms.j2"
    wording.write_text("Hi {{ patient.first_name }}, see you tomorrow.")
    sent = tmp_path / "notifier" / "outbox" / "sms.jsonl"
    dlq_json(capsys, "replay", letter["id"])
    deadline = time.monotonic() + 20
    while not sent.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [json.loads(line)["body"] for line in sent.read_text().splitlines()] == [
        "Hi Jane, see you tomorrow."
    ]

    dlq_json(capsys, "replay", letter["id"])  # the same dead letter a second time
    time.sleep(2.0)
    assert len(sent.read_text().splitlines()) == 1, "a dead letter is replayed into one send"
    assert len(dlq_json(capsys, "list", "--topic", "notifications")) == 1


@pytest.mark.usefixtures("ops_env")
def test_replay_all_matching_publishes_the_original_bytes_and_key_back(
    broker: EmbeddedBroker, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    original = event(booking())
    payload = encode(original).decode()
    for reason in ("UnknownTreatment: no protocol for microsclerotherapy", "InvalidEvent: x"):
        letter = DeadLetter(
            service="reminders",
            topic=topics.bookings,
            partition=1,
            offset=7,
            key=original.key,
            payload=payload,
            reason=reason,
            occurred_at=NOW,
        )
        produce(broker.bootstrap, topics.bookings_dlq, original.key, encode(letter))
    reader = TopicReader(broker.bootstrap, topics.bookings)
    try:
        capsys.readouterr()
        code = main(["dlq", "replay", "--all", "--reason", "unknowntreatment"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "1 dead letter(s) replayed" in out
        assert reader.wait_for(1) == [payload.encode()]
    finally:
        reader.close()


@pytest.mark.usefixtures("ops_env")
def test_list_table_masks_and_unknown_ids_exit_2(
    broker: EmbeddedBroker, topics: Topics, capsys: pytest.CaptureFixture[str]
) -> None:
    produce(broker.bootstrap, topics.bookings_dlq, None, b"garbage")
    assert main(["dlq", "list"]) == 0
    out = capsys.readouterr().out
    assert "1 dead letter(s)" in out and "not a dead letter" in out
    assert main(["dlq", "show", "bookings:0:999"]) == 2
    assert "bookings:0:999" in capsys.readouterr().err
    assert main(["dlq", "replay"]) == 2
