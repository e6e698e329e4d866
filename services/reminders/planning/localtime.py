"""Wall-clock arithmetic in a patient's time zone, right across daylight-saving changes.

Local times that do not exist (the hour skipped in spring) are read with the
offset in force before the change, so they move forward by the length of the
gap (02:30 becomes 03:30); local times that happen twice (the hour repeated in
autumn) are the first of the two. Both rules are deterministic.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.reminders.planning.offsets import Unit
from services.shared.clinics import QuietHours, quiet_ends


def local_to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant of ``day`` at wall time ``at`` in ``zone`` (rules above)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months; the 31st becomes the month's last day if needed."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def shift_day(day: date, amount: int, unit: Unit) -> date:
    """A local date moved by ``amount`` days, weeks or months."""
    if unit is Unit.MONTHS:
        return add_months(day, amount)
    return day + timedelta(days=amount * (7 if unit is Unit.WEEKS else 1))


def out_of_quiet_hours(instant: datetime, zone: ZoneInfo, quiet: QuietHours | None) -> datetime:
    """``instant`` if allowed, else when the window ends (that morning or the next), in UTC."""
    opens = quiet_ends(quiet, zone, instant) if quiet is not None else None
    return (opens or instant).astimezone(UTC)
