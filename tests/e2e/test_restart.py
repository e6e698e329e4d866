"""Stopped with Ctrl-C, killed outright, started again: every plan carries on, nothing twice.

The platform runs as ``make run`` starts it, with a clock at x7200 (two hours a
real second) that carries on across the restarts. The embedded broker forgets
everything at each stop, so every start finds it empty beside the worker's old
local state: the platform must notice and rebuild each plan from the booking store.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.reminders.planning.engine import ClinicPolicy, PlannedReminder, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.events import Booking
from tests.e2e.platform import Platform
from tests.e2e.test_platform import booking_body

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

SCALE = 7200.0
START = datetime(2026, 11, 16, 6, 0, tzinfo=UTC)


def test_plans_survive_ctrl_c_and_kill_9_and_nothing_goes_out_twice(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = Platform(var, SCALE, START).start()
    # Three days ahead: the messages of the week and three days before go at once, the
    # day-before one falls due after the first restart, the aftercare after the second.
    booked = first.post(
        "/v1/bookings", booking_body("bk-7", "p-7", first.now() + timedelta(days=3))
    )
    plan = sorted(_plan(Booking.model_validate(booked["booking"])), key=lambda r: r.due_at)
    before = [r for r in plan if r.milestone.startswith(("treatment-", "consultation-"))]
    first.wait_for_line(f"[{before[0].milestone}]", timeout=30)
    stopped_at = first.now()
    _stop_cleanly(first)

    second = Platform(var, SCALE, START).start()
    assert second.now() >= stopped_at, "the clock went back"
    assert any("carried on from the last run" in line for line in second.lines)
    later = next(r for r in before if r.due_at > stopped_at)
    second.wait_until(later.due_at + timedelta(hours=3), timeout=120)
    second.wait_for_line(f"[{later.milestone}]", timeout=20)
    # A start after a clean stop is the expected path, even on the embedded broker that
    # forgot everything: nothing in it asks for a person.
    alarming = [line for line in second.lines if "WARNING" in line or "ERROR" in line]
    assert alarming == [], second.output()
    second.kill_everything()

    third = Platform(var, SCALE, START).start()
    start = datetime.fromisoformat(booked["booking"]["start"])
    third.wait_until(start + timedelta(minutes=50), timeout=180)
    third.post("/v1/bookings/bk-7/attended")
    third.wait_for_line("[aftercare-", timeout=30)
    time.sleep(3)  # a repeat would land within a tick or two
    sent = [(m["reminder_id"], m["channel"]) for c in ("sms", "email") for m in third.sent(c)]
    _stop_cleanly(third)

    twice = [key for key, count in Counter(sent).items() if count > 1]
    assert twice == [], twice
    milestones = {m["milestone"] for c in ("sms", "email") for m in third.sent(c)}
    assert {before[0].milestone, later.milestone} <= milestones


def _plan(booking: Booking) -> list[PlannedReminder]:
    return plan_patient([booking], ProtocolRegistry.builtin(), ClinicPolicy())


def _stop_cleanly(platform: Platform) -> None:
    began = time.monotonic()
    assert platform.stop() == 0, platform.output()
    assert time.monotonic() - began < 10, platform.output()
    assert platform.processes_left() == []
    stopping = platform.lines[next(i for i, x in enumerate(platform.lines) if "stopping" in x) :]
    assert not [line for line in stopping if "ERROR" in line], platform.output()
    assert "broker" in stopping[-1], stopping[-1]
