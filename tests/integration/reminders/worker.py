"""Run real reminders workers against the test broker, and read what they emit."""

from __future__ import annotations

import json
import os
import signal
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
from tests.support.processes import Service

WEB_TOKEN = "reminders-views-token-for-the-tests"


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
        log = var_dir / f"worker-{worker_id}.log"
        self.service = Service(f"worker-{worker_id}", "services.reminders", log)
        self.env = {
            **os.environ,
            **clock.environment(),
            "CLINIC_BOOTSTRAP_SERVERS": bootstrap,
            "CLINIC_TOPIC_PREFIX": topics.prefix,
            "CLINIC_VAR_DIR": str(var_dir),
            "CLINIC_WORKER_ID": worker_id,
            "CLINIC_WORKER_WEB_PORT": str(free_port()),
            "CLINIC_WORKER_WEB_TOKEN": WEB_TOKEN,
            "PYTHONUNBUFFERED": "1",
        }

    def start(self) -> Worker:
        self.service.start(self.env)
        return self

    def wait_ready(self, starts: int = 1, timeout: float = 60.0) -> None:
        """Block until the log shows ``starts`` ready lines (tables recovered, partitions held)."""
        self.service.wait_line("ready, partitions", timeout, count=starts)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """SIGTERM (then SIGKILL after 20 s), or at once ``kill -9`` with ``signal.SIGKILL``."""
        if sig == signal.SIGKILL:
            self.service.kill()
        else:
            self.service.stop()

    def view(self, path: str) -> Any:
        """GET one of the worker's JSON views."""
        return json.loads(self.page(path))

    def page(self, path: str, token: str | None = WEB_TOKEN) -> str:
        """GET one of the worker's pages, with the views' token unless ``token`` is None."""
        port = self.env["CLINIC_WORKER_WEB_PORT"]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        asked = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers)
        with urllib.request.urlopen(asked, timeout=10) as response:
            return str(response.read().decode())

    def log(self) -> str:
        return self.service.tail()


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
