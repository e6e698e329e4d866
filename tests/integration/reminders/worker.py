"""Run real reminders workers against the test broker, and read what they emit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from services.shared.broker import free_port
from services.shared.clock import ScaledClock
from services.shared.events import BookingEvent, ReminderDue, decode, encode
from services.shared.topics import Topics


class Worker:
    """One ``python -m services.reminders`` process with its own data directory and port."""

    def __init__(
        self,
        bootstrap: str,
        topics: Topics,
        var_dir: Path,
        clock: ScaledClock,
        worker_id: str = "1",
    ) -> None:
        self.log_path = var_dir / f"worker-{worker_id}.log"
        self.env = {
            **os.environ,
            **clock.environment(),
            "CLINIC_BOOTSTRAP_SERVERS": bootstrap,
            "CLINIC_TOPIC_PREFIX": topics.prefix,
            "CLINIC_VAR_DIR": str(var_dir),
            "CLINIC_WORKER_ID": worker_id,
            "CLINIC_WORKER_WEB_PORT": str(free_port()),
            "PYTHONUNBUFFERED": "1",
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "services.reminders"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_ready(self, starts: int = 1, timeout: float = 60.0) -> None:
        """Block until the log shows ``starts`` ready lines (tables recovered, partitions held)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_path.read_bytes().count(b"ready, partitions") >= starts:
                return
            assert self.process is not None and self.process.poll() is None, self.log()
            time.sleep(0.1)
        raise TimeoutError(f"worker not ready in {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def view(self, path: str) -> Any:
        """GET one of the worker's JSON views."""
        return json.loads(self.page(path))

    def page(self, path: str) -> str:
        port = self.env["CLINIC_WORKER_WEB_PORT"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return str(response.read().decode())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


def publish(bootstrap: str, topic: str, events: list[BookingEvent]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for event in events:
        producer.send(topic, key=event.key.encode(), value=encode(event))
    producer.flush()
    producer.close()


class DueReader:
    """Reads every due reminder from the start of the topic, noting when each arrived."""

    def __init__(self, bootstrap: str, topic: str, partitions: int = 4) -> None:
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=200
        )
        self._consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        self.received: list[tuple[float, ReminderDue]] = []

    def until(self, done: Callable[[list[ReminderDue]], bool], timeout: float) -> list[ReminderDue]:
        """Read until ``done(all so far)`` holds or ``timeout`` real seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in self._consumer:
                self.received.append((time.time(), decode(ReminderDue, record.value)))
            if done(self.all()):
                break
        return self.all()

    def all(self) -> list[ReminderDue]:
        return [due for _, due in self.received]

    def close(self) -> None:
        self._consumer.close()
