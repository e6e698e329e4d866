"""The full microsclerotherapy plan, compared with a checked-in file.

Any change to a date, a channel, a template or a context value fails this
test. If the change is intended, regenerate the file with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/planning/test_planning_golden.py``
and review the diff.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.reminders.planning import ClinicPolicy, PlannedReminder
from services.shared.events import Booking
from tests.unit.planning.planning_helpers import REPORTED, make_booking, plan

GOLDEN = Path(__file__).parent / "golden" / "microsclerotherapy.json"
BOOKED_AT = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)


def scenarios() -> dict[str, tuple[list[Booking], ClinicPolicy]]:
    consult = make_booking(
        "2026-11-03T11:00", kind="consultation", booking_id="c1", booked_at=BOOKED_AT, duration=30
    )
    t1 = make_booking("2026-12-01T10:00", booking_id="t1", planned=3, booked_at=BOOKED_AT)
    t2 = make_booking(
        "2027-01-12T17:30",
        booking_id="t2",
        session=2,
        planned=3,
        booked_at=datetime(2026, 12, 1, 11, 0, tzinfo=UTC),
    )
    t3 = make_booking(
        "2027-02-23T09:00",
        booking_id="t3",
        session=3,
        planned=3,
        booked_at=datetime(2027, 1, 12, 18, 15, tzinfo=UTC),
    )
    done = {"status": "attended"}
    return {
        "1-consultation-booked": ([consult], REPORTED),
        "2-first-treatment-booked": ([consult.model_copy(update=done), t1], REPORTED),
        "3-first-treatment-attended": (
            [consult.model_copy(update=done), t1.model_copy(update=done)],
            REPORTED,
        ),
        "4-second-booked": ([t1.model_copy(update=done), t2], REPORTED),
        "5-course-completed-annual": (
            [t1.model_copy(update=done), t2.model_copy(update=done), t3.model_copy(update=done)],
            REPORTED,
        ),
        "6-course-completed-biannual": (
            [t3.model_copy(update=done)],
            ClinicPolicy(maintenance="biannual"),
        ),
        "7-no-show-sydney": (
            [
                make_booking(
                    "2026-12-01T10:00", tz="Australia/Sydney", status="no_show", booking_id="n1"
                )
            ],
            REPORTED,
        ),
    }


def serialise(reminder: PlannedReminder, tz: str) -> dict[str, Any]:
    return {
        "milestone": reminder.milestone,
        "booking_id": reminder.booking_id,
        "reminder_id": reminder.reminder_id,
        "template": reminder.template,
        "channels": [c.value for c in reminder.channels],
        "due_utc": reminder.due_at.isoformat(),
        "due_local": reminder.due_at.astimezone(ZoneInfo(tz)).isoformat(),
        "stale_utc": reminder.stale_at.isoformat() if reminder.stale_at else None,
        "context": dict(reminder.context),
    }


def current() -> dict[str, list[dict[str, Any]]]:
    result = {}
    for name, (bookings, policy) in scenarios().items():
        tz = bookings[0].patient.timezone
        result[name] = [serialise(r, tz) for r in plan(*bookings, policy=policy)]
    return result


def test_full_plan_matches_the_golden_file() -> None:
    actual = json.loads(json.dumps(current()))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        pytest.skip("golden file regenerated; review the diff")
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert actual == expected


def test_golden_file_covers_every_milestone() -> None:
    expected = json.loads(GOLDEN.read_text(encoding="utf-8"))
    seen = {r["milestone"] for plan_ in expected.values() for r in plan_}
    assert "maintenance-recall" in seen and "rebook-after-no-show" in seen
    assert "aftercare-clot-check" in seen and "consultation-suitability" in seen
