"""The notifier's loop in a thread on the real broker, and what it wrote, for tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from services.notifier.bootstrap import notifier
from services.notifier.settings import NotifierSettings
from services.shared.clock import ManualClock
from tests.support.kafka import assigned_consumer

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
SMS = "Hi {{ patient.first_name }}, see you {{ appointment.start | short_date }}."


@contextmanager
def loop_running(
    settings: NotifierSettings, clock: ManualClock, max_poll_records: int = 500
) -> Iterator[None]:
    """The notifier's loop in a thread on its own assigned consumer, stopped on the way out."""
    stop = threading.Event()
    consumer = assigned_consumer(
        settings.bootstrap_servers,
        settings.topics.due,
        settings.consumer_group,
        max_poll_records=max_poll_records,
    )
    with notifier(settings, clock, stop, consumer) as loop:
        thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=10)
    assert not thread.is_alive()


def sms_lines(settings: NotifierSettings) -> list[dict[str, str]]:
    path = settings.var_dir / "outbox" / "sms.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
