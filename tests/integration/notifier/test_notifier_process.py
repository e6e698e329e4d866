"""``python -m services.notifier`` as the platform runs it: sends, then stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from services.shared.broker import EmbeddedBroker
from services.shared.events import Channel, encode
from services.shared.topics import Topics
from tests.support.kafka import produce
from tests.support.reminders import reminder

pytestmark = pytest.mark.integration


def wait_for_file(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text()
        time.sleep(0.1)
    raise AssertionError(f"{path} stayed empty for {timeout:.0f}s")


def test_runs_in_the_foreground_sends_and_exits_zero_on_sigterm(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path
) -> None:
    wording = tmp_path / "templates" / "dr-jenny"
    wording.mkdir(parents=True)
    (wording / "pre-treatment.sms.j2").write_text("Hi {{ patient.first_name }}.")
    env = {
        **os.environ,
        "CLINIC_BOOTSTRAP_SERVERS": broker.bootstrap,
        "CLINIC_TOPIC_PREFIX": topics.prefix,
        "CLINIC_VAR_DIR": str(tmp_path / "var"),
        "CLINIC_CONSUMER_GROUP": group_id,
        "CLINIC_SESSION_TIMEOUT_MS": "6000",
        "CLINIC_HEARTBEAT_INTERVAL_MS": "500",
        "CLINIC_DEFAULT_QUIET_HOURS": "",
        "CLINIC_TEMPLATES_DIR": str(tmp_path / "templates"),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.notifier"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        due = reminder(channels=(Channel.SMS,))
        produce(broker.bootstrap, topics.due, due.key, encode(due))
        line = json.loads(wait_for_file(tmp_path / "var" / "outbox" / "sms.jsonl"))
        assert line["body"] == "Hi Jane." and line["reminder_id"] == due.reminder_id
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "SMS   -> +4477...123  [pre-treatment-24h] Hi Jane." in output
    assert output.rstrip().endswith("notifier: stopped")
    assert (tmp_path / "var" / "notifier.db").exists()
