"""A clinic books, moves and cancels; patients get the right texts at the right time.

The platform runs exactly as ``make run`` starts it (embedded broker, the three
services, local sinks) with a clock at x7200: two platform hours a real second.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.events import Booking
from tests.e2e.platform import Platform, running
from tests.support.bookings import booking_request

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

SCALE = 7200.0
START = datetime(2026, 11, 16, 8, 30, tzinfo=UTC)
PATIENT_ZONE = ZoneInfo("Europe/London")


def booking_body(booking_id: str, patient_id: str, start: datetime) -> dict[str, Any]:
    return booking_request({"id": patient_id}, booking_id=booking_id, start=start.isoformat())


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    with running(tmp_path / "var", SCALE, START) as started:
        yield started


def daytime(now: datetime) -> datetime:
    """``now`` if it is 08:00-17:00 in the patient's zone, else the next 08:30 there.

    A message that falls due near 21:00 is rightly held until 08:00 (the default
    quiet hours); the booking is made by day so that "on time" means the plan's time,
    whatever hour the platform's start left the clock at.
    """
    local = now.astimezone(PATIENT_ZONE)
    if 8 <= local.hour < 17:
        return now
    day = local if local.hour < 8 else local + timedelta(days=1)
    return day.replace(hour=8, minute=30, second=0, microsecond=0).astimezone(UTC)


def test_booking_becomes_texts_on_time_and_a_cancelled_booking_sends_none(
    platform: Platform,
) -> None:
    now = daytime(platform.now())
    platform.wait_until(now)
    kept = Booking.model_validate(
        platform.post("/v1/bookings", booking_body("bk-1001", "p-42", now + timedelta(hours=50)))[
            "booking"
        ]
    )
    platform.post("/v1/bookings", booking_body("bk-2002", "p-43", now + timedelta(hours=200)))
    platform.post("/v1/bookings/bk-2002/cancel")

    planned = {
        r.milestone: r for r in plan_patient([kept], ProtocolRegistry.builtin(), ClinicPolicy())
    }
    day_before = planned["treatment-reminder"]
    platform.wait_until(day_before.due_at + timedelta(hours=4))
    platform.wait_for_line("[treatment-reminder]", timeout=10)

    texts = {(m["booking_id"], m["milestone"]): m for m in platform.sent("sms")}
    assert ("bk-1001", "treatment-reminder") in texts, platform.output()
    for (booking_id, milestone), message in texts.items():
        assert booking_id == "bk-1001", f"cancelled booking sent {milestone}"
        lateness = datetime.fromisoformat(message["sent_at"]) - planned[milestone].due_at
        assert timedelta(0) <= lateness <= timedelta(seconds=3 * SCALE), (milestone, lateness)
    assert "Jane" in texts[("bk-1001", "treatment-reminder")]["body"]
    assert all(m["booking_id"] == "bk-1001" for m in platform.sent("email"))

    platform.wait_until(kept.start + timedelta(minutes=45))
    platform.post("/v1/bookings/bk-1001/attended")
    platform.wait_for_line("[aftercare-", timeout=20)
    aftercare = [m for m in platform.sent("sms") if m["milestone"].startswith("aftercare-")]
    assert aftercare and all(m["booking_id"] == "bk-1001" for m in aftercare)

    assert platform.stop() == 0
    assert platform.processes_left() == []
