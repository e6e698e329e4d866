"""Offsets and durations as clinics write them: "2 days before", "4-6 weeks", "48h".

Parsing is strict and every failure is a ``ValueError`` whose message shows the
accepted forms, so a protocol file's author sees how to fix the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from enum import StrEnum

_UNITS = {"h": "hours", "d": "days", "w": "weeks", "m": "months"}
_OFFSET = re.compile(
    r"^(?P<sign>[+-])?\s*(?P<low>\d+)(?:\s*-\s*(?P<high>\d+))?\s*"
    r"(?P<unit>h|hours?|d|days?|w|weeks?|m|months?)(?:\s+(?P<dir>before|after))?$"
)
OFFSET_FORMS = "'2 days before', '-24 hours', '3 days', '4-6 weeks after', '12 months'"


class Unit(StrEnum):
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


@dataclass(frozen=True)
class Offset:
    """A signed offset, possibly a range: ``low..high`` units, ``sign`` -1 means before."""

    sign: int
    low: int
    high: int
    unit: Unit

    @property
    def is_range(self) -> bool:
        return self.low != self.high

    @property
    def in_hours(self) -> bool:
        return self.unit is Unit.HOURS

    def amounts(self) -> tuple[int, int]:
        """Signed (earliest, latest) amounts in ``unit``; earliest is always the smaller."""
        a, b = self.sign * self.low, self.sign * self.high
        return (min(a, b), max(a, b))

    def __str__(self) -> str:
        amount = f"{self.low}-{self.high}" if self.is_range else str(self.low)
        return f"{amount} {self.unit.value} {'before' if self.sign < 0 else 'after'}"


def parse_offset(text: str) -> Offset:
    """Parse an offset; raise ``ValueError`` naming the accepted forms."""
    match = _OFFSET.match(text.strip().lower())
    if not match:
        raise ValueError(f"{text!r} is not an offset; write e.g. {OFFSET_FORMS}")
    if match["sign"] and match["dir"]:
        raise ValueError(f"{text!r} has both a sign and before/after; use one")
    low = int(match["low"])
    high = int(match["high"]) if match["high"] else low
    if high < low:
        raise ValueError(f"{text!r}: the range must go from the smaller to the larger number")
    sign = -1 if match["sign"] == "-" or match["dir"] == "before" else 1
    return Offset(sign=sign, low=low, high=high, unit=Unit(_UNITS[match["unit"][0]]))


def parse_duration(text: str) -> timedelta:
    """Parse a plain duration in hours, days or weeks ("48h", "2 days", "48 hours before")."""
    offset = parse_offset(text.removesuffix("before").strip())
    if offset.sign < 0 or offset.is_range or offset.unit is Unit.MONTHS:
        raise ValueError(f"{text!r} is not a duration; write e.g. '48h', '2 days', '1 week'")
    per_unit = {Unit.HOURS: 1, Unit.DAYS: 24, Unit.WEEKS: 24 * 7}[offset.unit]
    return timedelta(hours=offset.low * per_unit)


def parse_time_of_day(value: object) -> time:
    """Parse "HH:MM"; also an int, since YAML 1.1 reads an unquoted 10:00 as 600 (base 60)."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = f"{value // 60:02d}:{value % 60:02d}"
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        hour, minute = (int(part) for part in value.strip().split(":"))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise ValueError(f"{value!r} is not a local time of day; write e.g. '10:00'")
