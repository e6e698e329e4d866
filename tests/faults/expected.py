"""Which (reminder id, channel) pairs were due in the run, worked out from the booking store.

Each booking's history is a list of snapshots, each current from the moment
its event was recorded until the next one. The plan of a snapshot (the same
pure engine the worker runs) says which reminders it holds; a reminder falls
due at its due time, or at once if its plan arrived after that (a late booking
or a change), provided its plan is still current then. It is expected when it
falls due before the cut-off.

Pairs that fall due within ``margin`` of a plan change or of the cut-off are
*optional*: the worker may rightly act on either side of that race, so they
may have been sent once or not at all (never twice). So are pairs whose plan
arrived when they were already (or all but) stale, e.g. aftercare of a
treatment marked attended hours after it ended. Reminders the engine
leaves out (``late: skip`` milestones of a late booking, anything whose due
time is past its staleness, every milestone of a cancelled booking after the
cancel) are not expected at all.

Two things move or excuse a pair beyond that. Quiet hours: the notifier holds a
reminder that arrives inside them until they end, so a pair falls due at the
end of the window. The lost broker: a reminder emitted before the broker was
lost (and not yet delivered) is gone with it; ``resync`` re-plans from the
bookings as they stand, so a pair that fell due before the resync and that the
plan at resync time no longer holds (its booking was attended, moved or
cancelled since) no longer applies: it is optional. One the plan still holds
is emitted again at the resync; when that second arrival falls (after quiet
hours) past the cut-off, the pair carries ``deferred_to``, and the tally counts
it as deferred, not missing, if nothing else became of it.

A provider outage: a pair that stopped being of use (see
:func:`services.notifier.delivery.retry.useful_until`) while it could not be sent may
rightly have been given up; it is optional. It could not be sent while its
provider refused everything (Twilio 503 for SMS, SMTP 421 for email), and from
there on while the notifier was down, and until the quiet hours the outage
ended in were over (the retries wait for them). Every other pair caught in an
outage is required: it must go out once it can.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.booking.store.store import BookingStore
from services.notifier.delivery.retry import useful_until
from services.reminders.planning.engine import ClinicPolicy, PlannedReminder, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.clinics import QuietHours, quiet_until
from services.shared.events import Booking, BookingEvent, Channel

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class Due:
    """One reminder on one channel that fell due, with its plan's facts."""

    reminder_id: str
    channel: Channel
    booking: Booking
    milestone: str
    fires_at: datetime
    stale_at: datetime | None
    deferred_to: datetime | None = None
    """Set when the broker was lost after this fell due: if it was still in flight,
    the resync emits it again, and the notifier lets it out only at this time."""


@dataclass
class ExpectedSet:
    required: dict[tuple[str, Channel], Due]
    optional: dict[tuple[str, Channel], Due]
    patients: dict[str, Booking]
    """Phone number -> the booking of its (only) patient."""
    later: set[tuple[str, Channel]] = field(default_factory=set)
    """Pairs of a current plan that fall due after the cut-off (sending one early is not
    sending one that no longer applies)."""


def expected(
    store: BookingStore,
    cut: datetime,
    margin: timedelta,
    resynced_at: datetime | None = None,
    outages: Mapping[Channel, Iterable[Window]] | None = None,
    notifier_down: Iterable[Window] = (),
) -> ExpectedSet:
    """Every pair due by ``cut`` according to each booking's recorded history."""
    down = list(notifier_down)
    stretches = {c: unsendable((outages or {}).get(c, ()), down) for c in Channel}
    registry = ProtocolRegistry.builtin()
    result = ExpectedSet({}, {}, {})
    for latest in store.iter_bookings():
        result.patients[latest.patient.phone or ""] = latest
        history = store.history(latest.clinic_id, latest.booking_id)
        replayed = _planned_at(history, resynced_at, registry)
        for due, edge in _falls_due(history, registry):
            if due.fires_at > cut + margin:
                result.later.add((due.reminder_id, due.channel))
                continue
            key = (due.reminder_id, due.channel)
            near_edge = edge is not None and abs(edge - due.fires_at) < margin
            stale = due.stale_at is not None and due.fires_at >= due.stale_at - margin
            lost = False
            if resynced_at is not None and due.fires_at < resynced_at:
                lost = due.reminder_id not in replayed
                again = _held_until(due.booking, resynced_at)
                if again > cut - margin:
                    due = replace(due, deferred_to=again)
            outlived = _outlived(due, stretches[due.channel], margin)
            if near_edge or stale or lost or outlived or due.fires_at > cut - margin:
                result.optional.setdefault(key, due)
            else:
                result.required[key] = due
    for key in result.required:
        result.optional.pop(key, None)
    return result


def unsendable(outages: Iterable[Window], notifier_down: Iterable[Window]) -> list[Window]:
    """The stretches in which an SMS caught by an outage could not go out.

    Each outage, widened by every stretch of the notifier being down that overlaps
    it (or overlaps what it was widened by already): retries wait for both.
    """
    down = sorted(notifier_down)
    widened = []
    for begin, end in sorted(outages):
        grew = True
        while grew:
            touching = [(went, back) for went, back in down if went <= end and back >= begin]
            first = min([begin, *(went for went, _ in touching)])
            last = max([end, *(back for _, back in touching)])
            grew = (first, last) != (begin, end)
            begin, end = first, last
        widened.append((begin, end))
    merged: list[Window] = []
    for begin, end in sorted(widened):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def _outlived(due: Due, stretches: list[Window], margin: timedelta) -> bool:
    """Whether ``due`` came due while it could not be sent and stopped being worth a retry
    before it could be again (one that came due earlier had its chance: it is required).

    A stretch that ends inside the patient's quiet hours lasts until they end: the
    notifier holds its retries until then.
    """
    until = useful_until(due.fires_at, due.stale_at, due.booking.start)
    for down, over in stretches:
        over = _held_until(due.booking, over)
        caught = down - margin <= due.fires_at <= over
        if caught and down - margin <= until <= over + margin:
            return True
    return False


def _falls_due(
    history: list[BookingEvent], registry: ProtocolRegistry
) -> Iterable[tuple[Due, datetime | None]]:
    """Each reminder of each snapshot that fell due while its plan was current."""
    for i, event in enumerate(history):
        snapshot = _with_booked_at(event)
        until = history[i + 1].occurred_at if i + 1 < len(history) else None
        for item in plan_patient([snapshot], registry, ClinicPolicy()):
            fires = max(item.due_at, event.occurred_at)
            if until is not None and fires >= until:
                continue
            for channel in item.channels:
                yield _due(item, channel, snapshot, fires), until


def _planned_at(
    history: list[BookingEvent], instant: datetime | None, registry: ProtocolRegistry
) -> set[str]:
    """Reminder ids the plan of the snapshot current at ``instant`` holds."""
    current = [e for e in history if instant is not None and e.occurred_at <= instant]
    if not current:
        return set()
    return {
        r.reminder_id
        for r in plan_patient([_with_booked_at(current[-1])], registry, ClinicPolicy())
    }


def _held_until(booking: Booking, instant: datetime) -> datetime:
    """When the notifier lets a reminder arriving at ``instant`` out (after quiet hours)."""
    return quiet_until(QuietHours(), booking.patient.timezone, instant) or instant


def _due(item: PlannedReminder, channel: Channel, booking: Booking, fires: datetime) -> Due:
    return Due(
        item.reminder_id,
        channel,
        booking,
        item.milestone,
        _held_until(booking, fires),
        item.stale_at,
    )


def _with_booked_at(event: BookingEvent) -> Booking:
    booking = event.data
    if booking.booked_at is None:
        return booking.model_copy(update={"booked_at": event.occurred_at})
    return booking


def longest_chance(
    begin: datetime, end: datetime, blocked: Iterable[Window], booking: Booking
) -> timedelta:
    """The longest stretch between ``begin`` and ``end`` in which a retry could go out: no
    outage of its provider, the notifier up, and outside the patient's quiet hours."""
    stops = sorted(w for w in blocked if w[1] > begin and w[0] < end)
    longest, at = timedelta(0), begin
    while at < end:
        held = _held_until(booking, at)
        if held > at:  # quiet hours: nothing goes out until they end
            at = held
            continue
        inside = [over for down, over in stops if down <= at < over]
        if inside:
            at = max(inside)
            continue
        quiet = _next_quiet(booking, at)
        upcoming = [down for down, _ in stops if down > at]
        until = min([end, quiet, *upcoming])
        longest, at = max(longest, until - at), until
    return longest


def _next_quiet(booking: Booking, after: datetime) -> datetime:
    """When the patient's next quiet hours begin (the platform's default ones)."""
    zone = ZoneInfo(booking.patient.timezone)
    local = after.astimezone(zone)
    start = datetime.combine(local.date(), QuietHours().start, tzinfo=zone)
    return start if start > local else start + timedelta(days=1)
