"""When one milestone of one booking falls due, what its windows are, when it goes stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.reminders.planning.localtime import shift, shift_day
from services.reminders.planning.models import Maintenance, Milestone, Primitive
from services.reminders.planning.offsets import Offset, Unit
from services.shared.events import Booking


@dataclass(frozen=True)
class Timing:
    """The natural due instant (before late and quiet-hours rules), staleness, windows."""

    due: datetime
    stale_at: datetime | None
    windows: dict[str, Primitive]


def anchor_of(booking: Booking, milestone: Milestone) -> datetime:
    if milestone.anchor == "end":
        return booking.start + timedelta(minutes=booking.duration_minutes)
    return booking.start


def timing(booking: Booking, milestone: Milestone, maintenance: Maintenance) -> Timing:
    """Work out a milestone's timing for a booking, in the patient's time zone."""
    zone = ZoneInfo(booking.patient.timezone)
    anchor = anchor_of(booking, milestone)
    offset = milestone.offset_for(maintenance)
    due = shift(anchor, offset.amounts()[0], offset.unit, milestone.at, zone)
    windows: dict[str, Primitive] = {}
    if offset.is_range:
        windows.update(window_context("window", anchor, offset, zone))
    for name, window in milestone.windows.items():
        windows.update(window_context(name, anchor, window, zone))
    return Timing(due=due, stale_at=_stale_at(booking, milestone, due), windows=windows)


def window_context(
    name: str, anchor: datetime, offset: Offset, zone: ZoneInfo
) -> dict[str, Primitive]:
    """``{name}_earliest``/``_latest`` (ISO local dates, or datetimes for hours) and amounts."""
    earliest, latest = offset.amounts()
    return {
        f"{name}_earliest": _local_iso(anchor, earliest, offset.unit, zone),
        f"{name}_latest": _local_iso(anchor, latest, offset.unit, zone),
        f"{name}_min": offset.low,
        f"{name}_max": offset.high,
        f"{name}_unit": offset.unit.value,
    }


def _local_iso(anchor: datetime, amount: int, unit: Unit, zone: ZoneInfo) -> str:
    if unit is Unit.HOURS:
        return (anchor + timedelta(hours=amount)).astimezone(zone).isoformat()
    return shift_day(anchor.astimezone(zone).date(), amount, unit).isoformat()


def _stale_at(booking: Booking, milestone: Milestone, due: datetime) -> datetime | None:
    candidates = []
    if milestone.stale == "start":
        candidates.append(booking.start)
    elif milestone.stale == "end":
        candidates.append(booking.start + timedelta(minutes=booking.duration_minutes))
    if milestone.stale_after is not None:
        candidates.append(due + milestone.stale_after)
    return min(candidates, default=None)
