"""Date and time filters for templates: in the patient's own zone and language.

Filters read the zone and locale from the render context (``_zone``,
``_locale``), so one cached environment serves every patient.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from jinja2 import pass_context
from jinja2.runtime import Context

DATE_PATTERN = "EEEE d MMMM y"
SHORT_DATE_PATTERN = "EEE d MMM"
TIME_PATTERN = "HH:mm"


def babel_locale(tag: str) -> Locale:
    """``fr-FR`` → the babel locale ``fr_FR``; an unknown tag falls back to ``en_GB``."""
    try:
        return Locale.parse(tag, sep="-")
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en_GB")


def to_local(value: Any, zone: ZoneInfo) -> datetime | date:
    """An aware datetime or ISO string, in ``zone``; a bare date stays a date.

    A naive ISO datetime string is read as wall time in ``zone``.
    """
    if isinstance(value, str):
        value = _parse_iso(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value.replace(tzinfo=zone)
        return value.astimezone(zone)
    if isinstance(value, date):
        return value
    raise ValueError(f"expected a date, a datetime or an ISO 8601 string, got {value!r}")


def _parse_iso(raw: str) -> datetime | date:
    try:
        if len(raw) == 10:
            return date.fromisoformat(raw)
        return datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ValueError(f"{raw!r} is not an ISO 8601 date or datetime") from exc


def _zone_and_locale(ctx: Context) -> tuple[ZoneInfo, Locale]:
    return ZoneInfo(ctx.get("_zone", "UTC")), babel_locale(ctx.get("_locale", "en-GB"))


@pass_context
def long_date(ctx: Context, value: Any) -> str:
    """``Tuesday 1 December 2026`` / ``mardi 1 décembre 2026``."""
    zone, locale = _zone_and_locale(ctx)
    return format_date(to_local(value, zone), DATE_PATTERN, locale=locale)


@pass_context
def short_date(ctx: Context, value: Any) -> str:
    """``Tue 1 Dec`` / ``mar. 1 déc.``."""
    zone, locale = _zone_and_locale(ctx)
    return format_date(to_local(value, zone), SHORT_DATE_PATTERN, locale=locale)


@pass_context
def clock_time(ctx: Context, value: Any) -> str:
    """``10:00`` (24-hour, in the patient's zone)."""
    zone, locale = _zone_and_locale(ctx)
    local = to_local(value, zone)
    if not isinstance(local, datetime):
        raise ValueError(f"the time filter needs a datetime, got the date {local.isoformat()}")
    return format_time(local, TIME_PATTERN, locale=locale)


FILTERS = {"date": long_date, "short_date": short_date, "time": clock_time}
