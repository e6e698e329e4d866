"""On Apache Kafka with its data kept, a machine lost outright loses no plan and resyncs nothing.

The platform runs as README runs it on one machine: ``make run`` against a
local Apache Kafka (``CLINIC_ON_TANSU=false``, normal batching). Every process,
the broker's included, is killed with SIGKILL, and everything starts again on
the same data. The plans must come back from the worker's changelog alone: the
booking service has no reason to rebuild them, the worker no reason to ask.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.shared.apache_kafka import ApacheKafka
from services.shared.control import read_control
from services.shared.topics import Topics
from tests.e2e.platform import Platform
from tests.e2e.test_platform import booking_body

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

SCALE = 3600.0
START = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
ON_TIME = timedelta(seconds=4 * SCALE)
"""Four real seconds: seen 2.0 to 2.2 (the worker's tick, its emit, the notifier's poll, at
normal batching), with room for a loaded machine. Four platform hours at x3600."""
NO_QUIET_HOURS = {"CLINIC_DEFAULT_QUIET_HOURS": ""}
RESYNC_WORDS = ("resync", "the broker lost them", "rebuilding")
PLAN = "/reminders/patients/dr-jenny/p-d1"


def test_kill_9_of_everything_on_apache_kafka_keeps_every_plan_and_resyncs_nothing(
    tmp_path: Path,
) -> None:
    var, kafka_dir = tmp_path / "var", tmp_path / "kafka"
    kafka = ApacheKafka(data_dir=kafka_dir, tied=True).start()
    try:
        first = Platform(var, SCALE, START, kafka.bootstrap, NO_QUIET_HOURS).start()
        first.post("/v1/bookings", booking_body("bk-d1", "p-d1", first.now() + timedelta(hours=28)))
        first.wait_for_line("[treatment-", timeout=60)
        before = first.worker_view(PLAN)["pending"]
        first.kill_everything()
        kafka.kill()

        kafka = ApacheKafka(data_dir=kafka_dir, tied=True).start()
        second = Platform(var, SCALE, START, kafka.bootstrap, NO_QUIET_HOURS).start()
        after = second.worker_view(PLAN)
        # Due once the platform is back: what came due while it was starting is late on any broker.
        later = [r for r in before if _due(r) > second.now() + timedelta(hours=1)][:2]
        second.wait_until(_due(later[-1]) + ON_TIME, timeout=180)
        for reminder in later:
            second.wait_for_line(f"[{reminder['milestone']}]", timeout=20)
        time.sleep(3)  # a repeat would land within a tick or two
        sent = [m for channel in ("sms", "email") for m in second.sent(channel)]
        resyncs = [line for line in second.lines if any(w in line for w in RESYNC_WORDS)]
        control = read_control(kafka.bootstrap, Topics().control)
        assert second.stop() == 0, second.output()
    finally:
        kafka.stop()

    kept = {r["reminder_id"]: r["due_at"] for r in after["pending"]}
    assert {r["reminder_id"] for r in before} <= set(kept) | set(after["done"]), (before, after)
    assert all(kept[r["reminder_id"]] == r["due_at"] for r in before if r["reminder_id"] in kept)
    assert resyncs == [], resyncs
    assert control.request is None and control.marker is not None, control
    sends = Counter((m["reminder_id"], m["channel"]) for m in sent)
    assert [key for key, n in sends.items() if n > 1] == []
    for reminder in later:
        out = next(m for m in sent if m["reminder_id"] == reminder["reminder_id"])
        late = datetime.fromisoformat(out["sent_at"]) - _due(reminder)
        assert timedelta(0) <= late <= ON_TIME, (reminder["milestone"], late)


def _due(reminder: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(reminder["due_at"])
