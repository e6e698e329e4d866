"""Whether a due reminder may still go out on a channel: its booking moved on, it is
stale, it has no address, the patient opted out, or the patient was erased."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from services.notifier.bookings.currency import SeenBooking, moot_reason
from services.notifier.bookings.seen import BookingKey
from services.notifier.patients.consent import recipient
from services.notifier.patients.registry import Asked, ConsentRecord
from services.shared.clock import Clock
from services.shared.erasure import ERASED, ErasedPatients
from services.shared.events import Channel, ReminderDue
from services.shared.lateness import MISSED, STALE, no_longer_useful


class Bookings(Protocol):
    """The notifier's record of each booking's latest state (see :mod:`bookings.seen`)."""

    def latest_many(self, keys: Iterable[BookingKey]) -> Mapping[BookingKey, SeenBooking]: ...


class OptOuts(Protocol):
    """The consent registry as delivery reads it (see :mod:`patients.registry`)."""

    def opted_out_many(self, asked: Sequence[Asked]) -> list[ConsentRecord | None]: ...


class Gate:
    """The reasons a reminder is not sent, read from the stores the notifier keeps.

    Each store left out (None) is a reason never given.
    """

    def __init__(
        self,
        clock: Clock,
        opt_outs: OptOuts | None = None,
        bookings: Bookings | None = None,
        erased: ErasedPatients | None = None,
    ) -> None:
        self._clock = clock
        self._opt_outs = opt_outs
        self._bookings = bookings
        self._erased = erased

    def reasons_to_skip(self, sends: Sequence[tuple[ReminderDue, Channel]]) -> list[str | None]:
        """Why each send is not to go out (or None), in that order: its booking moved on,
        it is stale, it has no address, or the patient opted out (one read of each store)."""
        moot = self._moot([reminder for reminder, _ in sends])
        reasons: list[str | None] = []
        asking: list[tuple[int, Asked]] = []
        for reminder, channel in sends:
            reason = moot.get((reminder.clinic_id, reminder.booking_id)) or self._stale(reminder)
            found = recipient(reminder.patient, channel)
            if reason is None and found.reason is None and self._opt_outs is not None:
                asking.append((len(reasons), (found.address or "", reminder.clinic_id, channel)))
            reasons.append(reason or found.reason)
        if self._opt_outs is not None and asking:
            # The registry overrides the booking's consent: the patient's own word is the latest.
            withdrawals = self._opt_outs.opted_out_many([asked for _, asked in asking])
            for (at, _), withdrawn in zip(asking, withdrawals, strict=True):
                if withdrawn is not None:
                    reasons[at] = withdrawal_reason(withdrawn)
        return reasons

    def dropped(self, reminder: ReminderDue) -> str | None:
        """Why ``reminder`` must be dropped, or None: its patient was erased after it was made,
        or its booking was an erased patient's.

        A dropped reminder is not delivered, its status is not published (it would
        name the booking), and its ledger row names neither booking nor patient.
        """
        erased = self._erased
        if erased is None:
            return None
        if erased.covers(reminder.clinic_id, reminder.patient.id, reminder.emitted_at):
            return ERASED
        return ERASED if erased.booking_erased(reminder.clinic_id, reminder.booking_id) else None

    def _stale(self, reminder: ReminderDue) -> str | None:
        if reminder.stale_at is None or self._now() < reminder.stale_at:
            return None
        why = MISSED if reminder.catch_up else STALE  # the worker's words for the same rule
        return no_longer_useful(why, reminder.due_at, reminder.stale_at)

    def _moot(self, reminders: Sequence[ReminderDue]) -> dict[BookingKey, str]:
        """Why each booking's reminders no longer apply (cancelled, moved, ...), where one does."""
        if self._bookings is None or not reminders:
            return {}
        seen = self._bookings.latest_many((r.clinic_id, r.booking_id) for r in reminders)
        reasons: dict[BookingKey, str] = {}
        for reminder in reminders:
            key = (reminder.clinic_id, reminder.booking_id)
            if reason := moot_reason(reminder, seen.get(key)):
                reasons[key] = reason
        return reasons

    def _now(self) -> datetime:
        return self._clock.now()


def withdrawal_reason(withdrawn: ConsentRecord) -> str:
    """Why a delivery is skipped: the patient's own opt-out, by SMS keyword or email link."""
    at = withdrawn.changed_at.isoformat()
    if withdrawn.channel is Channel.EMAIL:
        return f"opted out of email by its unsubscribe link at {at}"
    return f"opted out by SMS {withdrawn.keyword or 'STOP'} at {at}"
