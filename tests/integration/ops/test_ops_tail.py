"""``clinic-reminders tail`` on the real broker: decoded, masked, undecodable shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main
from services.shared.broker import free_port
from services.shared.events import encode
from services.shared.topics import Topics
from tests.support.kafka import produce
from tests.support.reminders import reminder

pytestmark = pytest.mark.integration


def test_tail_shows_each_record_masked_and_the_broken_one_as_undecodable(
    ops_env: Path, topics: Topics, broker: object, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = f"127.0.0.1:{broker.port}"  # type: ignore[attr-defined]
    due = reminder()
    produce(bootstrap, topics.due, due.key, encode(due))
    produce(
        bootstrap, topics.due, "dr-jenny:p-43", b'{"type": "reminder.due", "to": "+447700900999"}'
    )

    code = main(["tail", "due", "--from-beginning", "--limit", "2", "--idle-exit", "10"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(lines) == 2
    good = next(line for line in lines if "undecodable" not in line)
    bad = next(line for line in lines if "undecodable" in line)
    assert "reminder.due pre-treatment-24h booking dr-jenny/bk-1001 via sms,email" in good
    assert f"{topics.due}/" in good and "key dr-jenny:p-42" in good
    assert "invalid ReminderDue" in bad and "+4477...999" in bad
    assert "+447700900" not in "\n".join(lines)


def test_tail_json_gives_one_object_per_record_and_stops_when_idle(
    ops_env: Path, topics: Topics, broker: object, capsys: pytest.CaptureFixture[str]
) -> None:
    bootstrap = f"127.0.0.1:{broker.port}"  # type: ignore[attr-defined]
    for n in range(3):
        produce(bootstrap, topics.status, None, f"not json {n}".encode())

    code = main(["tail", topics.status, "--from-beginning", "--json", "--idle-exit", "1.5"])

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0
    assert sorted(row["raw"] for row in rows) == ["not json 0", "not json 1", "not json 2"]
    assert {row["error"] for row in rows} == {"not a platform event (no known 'type' field)"}


def test_tail_of_an_unknown_topic_exits_2_naming_it(
    ops_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tail", "no.such.topic", "--limit", "1"]) == 2
    assert "no.such.topic" in capsys.readouterr().err


def test_tail_with_no_broker_exits_1_naming_the_address(
    ops_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("CLINIC_BOOTSTRAP_SERVERS", address)
    assert main(["tail", "due", "--limit", "1"]) == 1
    assert address in capsys.readouterr().err
