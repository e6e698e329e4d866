"""One pass over a clinic calendar feed: new, moved, cancelled and removed events become
booking changes through :class:`BookingService` (so the same outbox and events as the API).

Rules, per event (keyed by UID):

- a new UID is booked (``created``) if it starts no further back than a new booking
  may (a day by default: this morning's visits); one older is left out (``past``);
- a calendar never says "attended": under the clinic's ``assumed`` attendance the
  plan already counts a booked visit as attended once it ends, so the booking is
  left booked, and a no-show the clinic reports later still takes its aftercare back;
- a known UID whose DTSTART moved is rescheduled (``rescheduled``);
- STATUS:CANCELLED, or the attendee's PARTSTAT=DECLINED, cancels it (``cancelled``);
- a known UID that is no longer in the feed is cancelled if its start is still to
  come, and otherwise left as it was (feeds often drop past events);
- an event with a lower SEQUENCE than the one acted on is stale and ignored;
- an event that cannot be mapped or is refused is ``rejected`` with the reason,
  and the pass goes on. Only changes of time and cancellations are carried
  over: a later edit of, say, the phone number in the calendar is not.

A feed that has no events at all is treated as unavailable, so that a clinic
system answering with an empty calendar for a moment cancels nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from services.booking.domain import StatusChange
from services.booking.errors import BookingError, TransitionNotAllowed
from services.booking.service import BookingService
from services.booking.settings import CalendarFeedSettings
from services.booking.sources.calendar.events import EventProblem, FeedEvent, parse_calendar
from services.booking.sources.calendar.feeds import FeedSource, FeedUnavailable, open_feed
from services.booking.sources.calendar.mapping import CalendarMapping, source
from services.booking.sources.calendar.state import (
    CalendarState,
    EventState,
    FeedRecord,
    event_key,
    feed_name,
)
from services.booking.sources.report import EventResult, Outcome, SyncReport, upserted

SOURCE = "ical"


@dataclass(frozen=True)
class CalendarFeed:
    """One clinic calendar to follow: where it is read from and how it maps."""

    name: str
    clinic_id: str
    source: FeedSource
    mapping: CalendarMapping


def booking_id_for(uid: str) -> str:
    """A booking id that is the same for the same UID on every pass and every restart."""
    digest = hashlib.sha256(uid.encode()).hexdigest()[:12]
    local = re.sub(r"[^A-Za-z0-9._-]+", "-", uid.split("@")[0]).strip("-.")[:40]
    return f"ical-{local}-{digest}" if local else f"ical-{digest}"


def build_feed(entry: CalendarFeedSettings) -> CalendarFeed:
    """The feed an entry of the settings names.

    Raises:
        OSError, ValueError: the mapping file cannot be read or is not a mapping.
    """
    mapping = CalendarMapping()
    if entry.mapping is not None:
        mapping = CalendarMapping.from_yaml(entry.mapping.read_text(encoding="utf-8"))
    name = entry.name or feed_name(entry.url)
    return CalendarFeed(name, entry.clinic_id, open_feed(entry.url), mapping)


class CalendarSync:
    """Brings the bookings of one feed in line with the feed, one :meth:`run_once` at a time."""

    def __init__(self, feed: CalendarFeed, service: BookingService, state: CalendarState) -> None:
        self.feed = feed
        self._service = service
        self._state = state

    @property
    def name(self) -> str:
        return self.feed.name

    def run_once(self) -> SyncReport:
        """Read the feed and apply it; blocks for the read and the database writes.

        Raises:
            FeedUnavailable: the feed could not be read or parsed; nothing changed.
            sqlalchemy.exc.SQLAlchemyError: the database failed mid-pass; the
                next pass picks up from what was recorded.
        """
        raw = self.feed.source.read()
        try:
            events = parse_calendar(raw, self.feed.mapping.timezone)
        except ValueError as exc:
            raise FeedUnavailable(str(exc)) from exc
        if not events:
            raise FeedUnavailable("the feed has no events; nothing is cancelled on an empty feed")
        known = self._state.load(self.feed.name)
        results = [self._apply(event, known.get(event_key(event.uid))) for event in events]
        present = {event_key(event.uid) for event in events}
        gone = (r for key, r in known.items() if key not in present)
        results += list(self._removed(gone))
        return SyncReport(tuple(results))

    def _apply(self, event: FeedEvent | EventProblem, record: FeedRecord | None) -> EventResult:
        if isinstance(event, EventProblem):
            return EventResult(event.uid, Outcome.REJECTED, reason=event.reason)
        booking_id = record.booking_id if record else self._booking_id(event)
        try:
            return self._decide(event, record, booking_id)
        except BookingError as exc:
            return EventResult(event.uid, Outcome.REJECTED, booking_id, str(exc))

    def _decide(self, event: FeedEvent, record: FeedRecord | None, booking_id: str) -> EventResult:
        if record is not None and event.sequence < record.sequence:
            reason = f"SEQUENCE {event.sequence} is older than {record.sequence}"
            return EventResult(event.uid, Outcome.IGNORED, booking_id, reason)
        if event.cancelled:
            return self._cancel(event, record, booking_id)
        if record is None or record.state is EventState.ENDED:
            return self._create(event, booking_id)
        if record.state is EventState.CANCELLED:
            reason = "the booking was cancelled; a cancelled booking is not booked again"
            return EventResult(event.uid, Outcome.REJECTED, booking_id, reason)
        return self._move(event, record)

    def _create(self, event: FeedEvent, booking_id: str) -> EventResult:
        if event.start < self._service.clock.now() - self._service.window.past:
            return EventResult(event.uid, Outcome.PAST, booking_id)
        body = self.feed.mapping.request(event, self.feed.clinic_id, booking_id)
        recorded = self._service.upsert(body, source=SOURCE)
        self._save(event, booking_id, EventState.ACTIVE)
        return EventResult(event.uid, upserted(recorded), booking_id)

    def _move(self, event: FeedEvent, record: FeedRecord) -> EventResult:
        if event.start != record.start:
            self._service.reschedule(
                record.clinic_id,
                record.booking_id,
                event.start,
                event.duration_minutes,
                source=SOURCE,
            )
            self._save(event, record.booking_id, EventState.ACTIVE)
            return EventResult(event.uid, Outcome.RESCHEDULED, record.booking_id)
        if event.sequence != record.sequence:
            self._save(event, record.booking_id, EventState.ACTIVE)
        return EventResult(event.uid, Outcome.UNCHANGED, record.booking_id)

    def _cancel(self, event: FeedEvent, record: FeedRecord | None, booking_id: str) -> EventResult:
        if record is not None and record.state is not EventState.ACTIVE:
            return EventResult(event.uid, Outcome.UNCHANGED, booking_id)
        if self._service.store.get(self.feed.clinic_id, booking_id) is None:
            reason = "cancelled before it was ever booked"
            return EventResult(event.uid, Outcome.IGNORED, booking_id, reason)
        outcome = self._cancel_booking(booking_id)
        self._save(event, booking_id, EventState.CANCELLED)
        return EventResult(event.uid, outcome, booking_id)

    def _cancel_booking(self, booking_id: str) -> Outcome:
        try:
            self._service.change_status(
                self.feed.clinic_id, booking_id, StatusChange.CANCEL, source=SOURCE
            )
        except TransitionNotAllowed as exc:
            if exc.status != "cancelled":
                raise
            return Outcome.UNCHANGED
        return Outcome.CANCELLED

    def _removed(self, records: Iterator[FeedRecord]) -> Iterator[EventResult]:
        now = self._service.clock.now()
        for record in records:
            if record.state is not EventState.ACTIVE:
                continue
            if record.start <= now:
                self._state.save(self.feed.name, _with(record, EventState.ENDED), now)
                continue
            yield self._remove(record)

    def _remove(self, record: FeedRecord) -> EventResult:
        reason = "removed from the calendar"
        now = self._service.clock.now()
        try:
            outcome = self._cancel_booking(record.booking_id)
        except BookingError as exc:
            # Reported once; the booking was changed elsewhere, so the feed stops watching it.
            self._state.save(self.feed.name, _with(record, EventState.ENDED), now)
            return EventResult(record.uid, Outcome.REJECTED, record.booking_id, f"{reason}: {exc}")
        self._state.save(self.feed.name, _with(record, EventState.CANCELLED), now)
        return EventResult(record.uid, outcome, record.booking_id, reason)

    def _booking_id(self, event: FeedEvent) -> str:
        sources = self.feed.mapping.fields.get("booking_id", ())
        found = next((v for v in (source(event, s) for s in sources) if v), None)
        return found or booking_id_for(event.uid)

    def _save(self, event: FeedEvent, booking_id: str, state: EventState) -> None:
        record = FeedRecord(
            event.uid, self.feed.clinic_id, booking_id, event.start, event.sequence, state
        )
        self._state.save(self.feed.name, record, self._service.clock.now())


def _with(record: FeedRecord, state: EventState) -> FeedRecord:
    return FeedRecord(
        record.uid, record.clinic_id, record.booking_id, record.start, record.sequence, state
    )
