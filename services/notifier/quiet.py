"""Quiet hours, checked at send time in the patient's own zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.shared.clinics import QuietHours


def quiet_until(quiet: QuietHours | None, zone_name: str, now: datetime) -> datetime | None:
    """When the quiet window around ``now`` opens again, or None if ``now`` is not in one.

    The end is a wall-clock time in the patient's zone, so it holds across
    daylight-saving changes; the answer is an aware datetime.
    """
    if quiet is None:
        return None
    zone = ZoneInfo(zone_name)
    local = now.astimezone(zone)
    if not quiet.contains(local.time()):
        return None
    end = datetime.combine(local.date(), quiet.end, tzinfo=zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, tzinfo=zone)
    return end
