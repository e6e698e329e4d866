"""A clinic on an iCalendar feed, which never says "attended": its patients get their aftercare.

The platform runs as ``make run`` starts it, following one calendar file. The
feed holds a treatment that ended an hour ago (this morning's visit, seen by the
first pass): under the default ``assumed`` attendance it is booked, its
aftercare planned from its end, and the first aftercare text goes out at once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.platform import Platform

pytestmark = pytest.mark.e2e

START = datetime(2026, 11, 16, 11, 0, tzinfo=UTC)
SAMPLES = Path(__file__).parents[1] / "unit" / "booking" / "samples"


def feed(path: Path, start: datetime) -> None:
    path.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\n"
        "UID:visit-1@clinic\r\nDTSTAMP:20261101T090000Z\r\nSEQUENCE:0\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%SZ}\r\nDURATION:PT45M\r\n"
        "DESCRIPTION:Patient ID: pt-9\\nPatient: Rosa\\nPhone: +447700900555\\n"
        "Treatment: Microsclerotherapy (thread veins)\\nType: Treatment\\nSMS reminders: yes\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n",
        encoding="utf-8",
    )


def test_a_calendar_clinic_s_patient_gets_aftercare_without_anyone_saying_attended(
    tmp_path: Path,
) -> None:
    calendar = tmp_path / "clinic.ics"
    feed(calendar, START - timedelta(hours=2))
    platform = Platform(tmp_path / "var", 60.0, START)
    platform.env["CLINIC_BOOKING_CALENDAR_POLL_SECONDS"] = "1"
    platform.env["CLINIC_BOOKING_CALENDAR_FEEDS"] = json.dumps(
        [
            {
                "clinic_id": "dr-jenny",
                "url": str(calendar),
                "mapping": str(SAMPLES / "dr-jenny-calendar.yaml"),
            }
        ]
    )
    platform.start()
    try:
        platform.wait_for_line("[aftercare-today]", timeout=60)
        [text] = [m for m in platform.sent("sms") if m["milestone"] == "aftercare-today"]
        assert text["to"] == "+447700900555" and "Rosa" in text["body"]
    finally:
        assert platform.stop() == 0
