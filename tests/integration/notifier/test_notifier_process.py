"""``python -m services.notifier`` as the platform runs it: sends, then stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
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


class Output:
    """Every line the process prints, read as it goes."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        self._stdout = process.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stdout:
            self.lines.append(line)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if found := re.search(pattern, line):
                    return found
            time.sleep(0.05)
        raise AssertionError(f"no line matched {pattern!r} in {self.lines}")

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


def healthy(address: str, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(f"{address}/healthz", timeout=5)
        if answer.status_code == 200 or time.monotonic() > deadline:
            body: dict[str, object] = answer.json()
            return body
        time.sleep(0.1)


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
        "CLINIC_NOTIFIER_HTTP_PORT": "0",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "services.notifier"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = Output(process)
    try:
        address = lines.wait_for(r"HTTP on (http://127\.0\.0\.1:\d+) ")[1]
        due = reminder(channels=(Channel.SMS,))
        produce(broker.bootstrap, topics.due, due.key, encode(due))
        line = json.loads(wait_for_file(tmp_path / "var" / "outbox" / "sms.jsonl"))
        assert line["body"] == "Hi Jane." and line["reminder_id"] == due.reminder_id
        assert healthy(address)["status"] == "ok"
        scraped = httpx.get(f"{address}/metrics", timeout=5).text
        assert 'clinic_deliveries_total{channel="sms",reason="none",state="sent"} 1.0' in scraped
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    output = lines.text()
    assert process.returncode == 0, output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{address}/healthz", timeout=2)
    assert "SMS   -> +4477...123  [pre-treatment-24h] booking bk-1001" in output
    assert "Jane" not in output
    assert "notifier ready, partitions [0, 1, 2, 3]" in output
    assert output.rstrip().endswith("notifier: stopped")
    assert (tmp_path / "var" / "notifier.db").exists()
