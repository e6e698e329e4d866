"""Figure 6: the plan engine alone, against decoding the same booking events."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from bench.bookings import future_bookings, record
from bench.result import Figure
from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.events import BookingEvent, decode


def run(count: int) -> Figure:
    """Plans per second of ``plan_patient`` vs ``decode(BookingEvent, ...)`` per second."""
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    made = future_bookings(count // 2, "plan", now) + future_bookings(
        count - count // 2, "plan-att", now, attended=True
    )
    raw = [record(b)[1] for b in made]
    registry, policy = ProtocolRegistry.builtin(), ClinicPolicy()
    began = time.perf_counter()
    for value in raw:
        decode(BookingEvent, value)
    decoded = count / (time.perf_counter() - began)
    began = time.perf_counter()
    reminders = sum(len(plan_patient([b], registry, policy)) for b in made)
    plans = count / (time.perf_counter() - began)
    return Figure(
        "plan",
        plans,
        "plans/s",
        decoded,
        "decode/s",
        extra={"reminders_per_plan": round(reminders / count, 1), "plans": count},
    )
