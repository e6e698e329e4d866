"""When one milestone of one booking falls due, what its windows are, when it goes stale."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from services.reminders.planning.localtime import local_to_utc, shift_day
from services.reminders.planning.models import Maintenance, Milestone, Primitive
from services.reminders.planning.offsets import Offset, Unit
from services.shared.events import Booking


@dataclass(frozen=True)
class Timing:
    """The natural due instant (before late and quiet-hours rules), staleness, windows."""

    due: datetime
    stale_at: datetime | None
    windows: dict[str, Primitive]


@dataclass(frozen=True, slots=True)
class Anchors:
    """A booking's start and end, as instants and as local dates, worked out once per plan:
    every milestone of the booking counts from one of them."""

    zone: ZoneInfo
    start: datetime
    end: datetime
    start_day: date
    end_day: date

    @classmethod
    def of(cls, booking: Booking) -> Anchors:
        zone = ZoneInfo(booking.patient.timezone)
        start = booking.start
        end = start + timedelta(minutes=booking.duration_minutes)
        return cls(zone, start, end, start.astimezone(zone).date(), end.astimezone(zone).date())

    def instant(self, milestone: Milestone) -> datetime:
        return self.end if milestone.anchor == "end" else self.start

    def day(self, milestone: Milestone) -> date:
        return self.end_day if milestone.anchor == "end" else self.start_day


@dataclass(frozen=True, slots=True, eq=False)
class _Rule:
    """A milestone's timing read out once (per maintenance choice) as plain values.

    Compared and hashed by identity: there is one per milestone and maintenance
    (:func:`_rule_of`), so the day cache's key costs no walk over its fields."""

    from_end: bool
    amount: int
    unit: Unit
    at: time | None
    windows: tuple[tuple[str, Offset], ...]
    """Every window of the milestone: its own offset's when it is a range, then its named ones."""
    by_day: bool
    """Its offset and every window in days, weeks or months: the same for every booking
    on the same local day."""


_RULES: dict[tuple[int, Maintenance], tuple[Milestone, _Rule]] = {}


def _rule_of(milestone: Milestone, maintenance: Maintenance) -> _Rule:
    """The milestone's rule, made at its first use (keyed by the object, which it keeps)."""
    known = _RULES.get((id(milestone), maintenance))
    if known is not None and known[0] is milestone:
        return known[1]
    offset = milestone.offset_for(maintenance)
    if offset.unit is not Unit.HOURS and milestone.at is None:
        raise ValueError("an offset in days, weeks or months needs a time of day")
    windows = ((("window", offset),) if offset.is_range else ()) + tuple(milestone.windows.items())
    rule = _Rule(
        from_end=milestone.anchor == "end",
        amount=offset.amounts()[0],
        unit=offset.unit,
        at=milestone.at,
        windows=windows,
        by_day=all(o.unit is not Unit.HOURS for o in (offset, *(w for _, w in windows))),
    )
    _RULES[(id(milestone), maintenance)] = (milestone, rule)
    return rule


def timing(anchors: Anchors, milestone: Milestone, maintenance: Maintenance) -> Timing:
    """Work out a milestone's timing for a booking, in the patient's time zone."""
    rule = _rule_of(milestone, maintenance)
    day = anchors.end_day if rule.from_end else anchors.start_day
    if rule.by_day:
        due, shared = _on_day(day, rule, anchors.zone)
        return Timing(due=due, stale_at=_stale_at(anchors, milestone, due), windows=shared)
    anchor = anchors.end if rule.from_end else anchors.start
    if rule.unit is Unit.HOURS:
        due = (anchor + timedelta(hours=rule.amount)).astimezone(UTC)
    else:
        assert rule.at is not None  # _rule_of refuses a day offset without one
        due = due_on_day(day, rule.amount, rule.unit, rule.at, anchors.zone)
    windows: dict[str, Primitive] = {}
    for name, window in rule.windows:
        windows.update(window_context(name, anchor, day, window, anchors.zone))
    return Timing(due=due, stale_at=_stale_at(anchors, milestone, due), windows=windows)


@lru_cache(maxsize=8192)
def _on_day(day: date, rule: _Rule, zone: ZoneInfo) -> tuple[datetime, dict[str, Primitive]]:
    """The due instant and windows of a rule in days, weeks or months, from local date
    ``day``: worked out once per day (a clinic books many patients on one day). Do not
    change the dict returned: it is shared."""
    assert rule.at is not None
    windows: dict[str, Primitive] = {}
    for name, window in rule.windows:
        windows.update(windows_by_day(name, day, window))
    return local_to_utc(shift_day(day, rule.amount, rule.unit), rule.at, zone), windows


def window_context(
    name: str, anchor: datetime, day: date, offset: Offset, zone: ZoneInfo
) -> dict[str, Primitive]:
    """``{name}_earliest``/``_latest`` (ISO local dates, or datetimes for hours) and amounts;
    ``day`` is ``anchor``'s local date. Do not change the dict returned: it may be shared."""
    if offset.unit is not Unit.HOURS:
        return windows_by_day(name, day, offset)
    earliest, latest = offset.amounts()
    return _window(
        name,
        (anchor + timedelta(hours=earliest)).astimezone(zone).isoformat(),
        (anchor + timedelta(hours=latest)).astimezone(zone).isoformat(),
        offset,
    )


@lru_cache(maxsize=8192)
def due_on_day(day: date, amount: int, unit: Unit, at: time, zone: ZoneInfo) -> datetime:
    """The UTC instant ``amount`` days, weeks or months from the local date ``day``, at
    the local time ``at``: the same for every booking on that day, so worked out once."""
    return local_to_utc(shift_day(day, amount, unit), at, zone)


@lru_cache(maxsize=8192)
def windows_by_day(name: str, day: date, offset: Offset) -> dict[str, Primitive]:
    """A window in days, weeks or months: the same for every booking on the same local day
    (a clinic books many), so worked out once per day."""
    earliest, latest = offset.amounts()
    early, late = shift_day(day, earliest, offset.unit), shift_day(day, latest, offset.unit)
    return _window(name, early.isoformat(), late.isoformat(), offset)


def _window(name: str, earliest: str, latest: str, offset: Offset) -> dict[str, Primitive]:
    return {
        f"{name}_earliest": earliest,
        f"{name}_latest": latest,
        f"{name}_min": offset.low,
        f"{name}_max": offset.high,
        f"{name}_unit": offset.unit.value,
    }


def _stale_at(anchors: Anchors, milestone: Milestone, due: datetime) -> datetime | None:
    """The first of the milestone's staleness rules that applies (None: it never goes stale)."""
    stale = anchors.start if milestone.stale == "start" else None
    if milestone.stale == "end":
        stale = anchors.end
    if milestone.stale_after is None:
        return stale
    after = due + milestone.stale_after
    return after if stale is None else min(stale, after)


def clear_day_caches() -> None:
    """Forget every day worked out (:func:`due_on_day`, :func:`windows_by_day`, the rules')."""
    due_on_day.cache_clear()
    windows_by_day.cache_clear()
    _on_day.cache_clear()
