"""Quiet hours: in the patient's zone, across midnight and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from services.shared.clinics import QuietHours, default_clinic, quiet_until

NIGHT = QuietHours(start=time(21, 0), end=time(8, 0))


def test_daytime_is_not_quiet() -> None:
    assert quiet_until(NIGHT, "Europe/London", datetime(2026, 12, 1, 12, tzinfo=UTC)) is None


def test_late_evening_waits_for_next_morning_in_the_patients_zone() -> None:
    until = quiet_until(NIGHT, "Europe/Paris", datetime(2026, 12, 1, 21, 30, tzinfo=UTC))
    assert until == datetime(2026, 12, 2, 8, 0, tzinfo=ZoneInfo("Europe/Paris"))


def test_early_morning_waits_until_eight_the_same_day() -> None:
    until = quiet_until(NIGHT, "Europe/London", datetime(2026, 12, 1, 6, 0, tzinfo=UTC))
    assert until == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_window_end_is_wall_time_across_the_clocks_going_forward() -> None:
    until = quiet_until(NIGHT, "Europe/London", datetime(2026, 3, 28, 23, 0, tzinfo=UTC))
    assert until is not None and until.astimezone(UTC) == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)


def test_no_quiet_hours_never_waits() -> None:
    assert quiet_until(None, "Europe/London", datetime(2026, 12, 1, 23, tzinfo=UTC)) is None


def test_an_undescribed_clinic_gets_a_name_from_its_id() -> None:
    assert default_clinic("dr-jenny").name == "Dr Jenny"
