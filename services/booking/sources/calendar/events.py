"""A clinic calendar's .ics text, read into one plain record per appointment event.

Only this module imports the iCalendar parser; the rest of the calendar poller
works on :class:`FeedEvent`. A VEVENT that cannot be an appointment becomes an
:class:`EventProblem` with the reason, never an exception: recurring events
(RRULE, RDATE or RECURRENCE-ID) are refused, since a clinic books each
appointment as its own event and a series has no single start to remind about.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar, Component


class FeedUnreadable(ValueError):
    """The whole feed is not an iCalendar text; nothing in it is acted on."""


@dataclass(frozen=True)
class Party:
    """An ATTENDEE or ORGANIZER: their address (``mailto:`` removed) and CN."""

    email: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class FeedEvent:
    """One appointment event of a feed, start as an aware datetime."""

    uid: str
    start: datetime
    sequence: int = 0
    cancelled: bool = False
    duration_minutes: int | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    description: Mapping[str, str] = field(default_factory=dict)
    attendee: Party = Party()
    organizer: Party = Party()

    @property
    def zone(self) -> str | None:
        """The IANA name of DTSTART's time zone, when it had one."""
        return getattr(self.start.tzinfo, "key", None)


@dataclass(frozen=True)
class EventProblem:
    """A VEVENT that is not an appointment the poller can take, and why."""

    uid: str
    reason: str


def parse_calendar(raw: bytes, floating_zone: str) -> list[FeedEvent | EventProblem]:
    """Every VEVENT of ``raw`` in feed order; times without a zone are in ``floating_zone``.

    Raises:
        FeedUnreadable: ``raw`` is not a VCALENDAR.
    """
    try:
        calendar = Calendar.from_ical(raw)
    except ValueError as exc:
        raise FeedUnreadable(f"not an iCalendar feed: {exc}") from exc
    if not isinstance(calendar, Calendar) or calendar.name != "VCALENDAR":
        raise FeedUnreadable("not an iCalendar feed: no VCALENDAR")
    zone = ZoneInfo(str(calendar.get("X-WR-TIMEZONE") or floating_zone))
    found: list[FeedEvent | EventProblem] = []
    seen: set[str] = set()
    for event in calendar.walk("VEVENT"):
        parsed = _parse_event(event, zone)
        if parsed.uid in seen and isinstance(parsed, FeedEvent):
            parsed = EventProblem(parsed.uid, "UID appears more than once in the feed")
        seen.add(parsed.uid)
        found.append(parsed)
    return found


def _parse_event(event: Component, zone: ZoneInfo) -> FeedEvent | EventProblem:
    uid = str(event.get("UID") or "").strip()
    if not uid:
        return EventProblem(f"(no UID: {event.get('SUMMARY', '')})", "the event has no UID")
    if any(name in event for name in ("RRULE", "RDATE", "RECURRENCE-ID")):
        return EventProblem(uid, "recurring events are not imported; book each visit as an event")
    start = _instant(event, "DTSTART", zone)
    if isinstance(start, str):
        return EventProblem(uid, start)
    return FeedEvent(
        uid=uid,
        start=start,
        sequence=_int(event.get("SEQUENCE")),
        cancelled=str(event.get("STATUS", "")).upper() == "CANCELLED"
        or _declined(event.get("ATTENDEE")),
        duration_minutes=_minutes(event, start, zone),
        properties=_texts(event),
        description=description_lines(str(event.get("DESCRIPTION", ""))),
        attendee=_party(event.get("ATTENDEE")),
        organizer=_party(event.get("ORGANIZER")),
    )


def _instant(event: Component, name: str, zone: ZoneInfo) -> datetime | str:
    """The property as an aware datetime, or the reason it is not one."""
    errors = [msg for prop, msg in event.errors if prop == name]
    value: Any = event.decoded(name) if name in event and not errors else None
    if errors or value is None:
        return f"{name}: {'; '.join(errors) or 'missing'}"
    if not isinstance(value, datetime) and isinstance(value, date):
        return f"{name}: an all-day event has no appointment time"
    if not isinstance(value, datetime):
        return f"{name}: {value!r} is not a date and time"
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _minutes(event: Component, start: datetime, zone: ZoneInfo) -> int | None:
    if "DURATION" in event:
        length = event.decoded("DURATION")
        return int(length.total_seconds() // 60) if isinstance(length, timedelta) else None
    end = _instant(event, "DTEND", zone) if "DTEND" in event else None
    return int((end - start).total_seconds() // 60) if isinstance(end, datetime) else None


def description_lines(text: str) -> dict[str, str]:
    """``Key: value`` lines of a DESCRIPTION, keys lower-cased; other lines are skipped."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, colon, value = line.partition(":")
        if colon and key.strip() and value.strip():
            found.setdefault(key.strip().lower(), value.strip())
    return found


def _declined(value: object) -> bool:
    """Whether the attendee (the patient; the first, if several) declined (PARTSTAT=DECLINED)."""
    if isinstance(value, list):
        value = value[0] if value else None
    params = getattr(value, "params", {})
    return str(params.get("PARTSTAT", "")).upper() == "DECLINED"


def _party(value: object) -> Party:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:
        return Party()
    address = str(value)
    if address.lower().startswith("mailto:"):
        address = address[7:]
    params = getattr(value, "params", {})
    return Party(email=address or None, name=params.get("CN") or None)


def _texts(event: Component) -> dict[str, str]:
    return {name.upper(): _text(value) for name, value in event.items()}


def _text(value: object) -> str:
    first = value[0] if isinstance(value, list) and value else value
    return str(first).strip()


def _int(value: object) -> int:
    try:
        return int(str(value)) if value is not None else 0
    except ValueError:
        return 0
