"""The booking service's use cases, shared by the API, webhooks, CSV import and iCal.

Each call validates, applies the booking rules with the injected clock, and
writes through the store (snapshot, history and outbox in one transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar

from services.booking import domain
from services.booking.errors import AmbiguousBooking, BookingNotFound, FieldError, InvalidBooking
from services.booking.privacy.erasure import Erasure, PatientEraser
from services.booking.settings import BookingSettings
from services.booking.store.idempotency import IdempotencyKey
from services.booking.store.store import BookingStore, Recorded
from services.booking.treatments import known_treatments
from services.shared.clinics import ClinicDirectory
from services.shared.clock import Clock
from services.shared.events import (
    Booking,
    BookingEvent,
    BookingEventType,
    is_identifier,
    is_key_part,
)

R = TypeVar("R", Recorded, Erasure)


class BookingService:
    """Creates and changes bookings; every success is an event in the outbox.

    ``notify`` is called after each new event is committed (the relay uses it
    to publish at once rather than at its next poll).
    """

    def __init__(
        self,
        store: BookingStore,
        clock: Clock,
        topic: str,
        treatments: Collection[str],
        notify: Callable[[], None] | None = None,
        clinics: ClinicDirectory | None = None,
        window: domain.StartWindow = domain.StartWindow(),
        eraser: PatientEraser | None = None,
    ) -> None:
        self._eraser = eraser
        self.clinics = clinics or ClinicDirectory()
        self.window = window
        self.store = store
        self.clock = clock
        self._topic = topic
        self._treatments = frozenset(treatments)
        self._notify = notify or (lambda: None)

    @classmethod
    def from_settings(
        cls,
        settings: BookingSettings,
        store: BookingStore,
        clock: Clock,
        notify: Callable[[], None] | None = None,
    ) -> BookingService:
        """The service as the settings describe it. ValueError names a bad clinics file."""
        return cls(
            store,
            clock,
            settings.topics.bookings,
            known_treatments(settings.booking_treatments, settings.protocols_dir),
            notify,
            settings.clinic_directory(),
            domain.StartWindow(
                timedelta(hours=settings.booking_start_past_hours),
                timedelta(days=settings.booking_start_future_days),
            ),
            PatientEraser(store, settings.erasure_keys, settings.topics),
        )

    @property
    def treatments(self) -> frozenset[str]:
        return self._treatments

    def create(
        self, payload: Mapping[str, Any], *, source: str = "api", idempotency_key: str | None = None
    ) -> Recorded:
        """Validate and record a new booking (``booking.created``).

        Raises:
            InvalidBooking: naming every bad field.
            Conflict: the booking id or key was already used for something else.
        """
        key = _key(idempotency_key, "create", dict(payload))
        clinic_id = payload.get("clinic_id")
        if (
            key is not None
            and is_key_part(clinic_id)
            and (first := self._replayed(str(clinic_id), key))
        ):
            return first
        now = self.clock.now()
        booking = self.check(payload)
        event = domain.event_for(booking, BookingEventType.CREATED, now, source)
        recorded = self.store.insert(event, self._topic, domain.booking_fingerprint(booking), key)
        return self._done(recorded)

    def check(self, payload: Mapping[str, Any]) -> Booking:
        """The booking :meth:`create` would make of ``payload`` now, recorded nowhere.

        Raises:
            InvalidBooking: naming every bad field.
        """
        clinic_id = payload.get("clinic_id")
        region = self.clinics.get(str(clinic_id)).country if is_key_part(clinic_id) else None
        return domain.new_booking(payload, self.clock.now(), self._treatments, self.window, region)

    def change_status(
        self,
        clinic_id: str,
        booking_id: str,
        change: domain.StatusChange,
        *,
        source: str = "api",
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Cancel a booked appointment, or record that the patient came or did not
        (``booking.cancelled``, ``booking.attended``, ``booking.no_show``). Attended
        and no-show are refused before the start less the clinic's grace (``TooEarly``).
        """
        made = change.change(self.clock.now(), source, self._grace(clinic_id))
        key = _key(idempotency_key, change.value, clinic_id, booking_id)
        return self._change(clinic_id, booking_id, made, key)

    def confirm(
        self,
        clinic_id: str,
        booking_id: str,
        *,
        source: str = "sms",
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Record that the patient confirmed a booked appointment still to come
        (``booking.confirmed``); a booking confirmed since it was booked or last moved
        answers with that confirmation, replayed. The event is queued for the
        clinic's callback URL when the clinics file gives one.

        Raises:
            BookingNotFound, TransitionNotAllowed (not booked), TooLate (already begun).
        """
        _require_ids(clinic_id, booking_id)
        key = _key(idempotency_key, "confirm", clinic_id, booking_id)
        if key is not None and (first := self._replayed(clinic_id, key)):
            return first
        if earlier := domain.confirmed_already(self.store.history(clinic_id, booking_id)):
            return Recorded(earlier, replayed=True)
        change = domain.confirm(self.clock.now(), source)
        callback = self.clinics.get(clinic_id).callback_url is not None
        return self._done(
            self.store.update(clinic_id, booking_id, change, self._topic, key, callback)
        )

    def reschedule(
        self,
        clinic_id: str,
        booking_id: str,
        start: datetime,
        duration_minutes: int | None = None,
        *,
        source: str = "api",
        idempotency_key: str | None = None,
    ) -> Recorded:
        """Move a booked appointment to a future ``start`` (``booking.rescheduled``).

        Raises:
            InvalidBooking: ``start`` is not in the future, or too far ahead.
        """
        now = self.clock.now()
        _require_ids(clinic_id, booking_id)
        key = _key(
            idempotency_key,
            "reschedule",
            clinic_id,
            booking_id,
            start.isoformat(),
            duration_minutes,
        )
        if key is not None and (first := self._replayed(clinic_id, key)):
            return first
        when = domain.check_future("start", start, now, self.window)
        change = domain.reschedule(when, now, source, duration_minutes)
        return self._change(clinic_id, booking_id, change, key)

    def upsert(self, payload: Mapping[str, Any], *, source: str) -> Recorded:
        """Take a full booking from a clinic's own system: new, moved, or as before.

        Creates it when unknown, reschedules it when its start moved, and
        otherwise returns its latest event with ``replayed=True`` (a redelivery).

        Raises:
            InvalidBooking, Conflict, TransitionNotAllowed: as create and reschedule.
        """
        clinic_id, booking_id = payload.get("clinic_id"), payload.get("booking_id")
        current = None
        if is_key_part(clinic_id) and is_identifier(booking_id):
            current = self.store.get(str(clinic_id), str(booking_id))
        if current is None:
            return self.create(payload, source=source)
        start = domain.parse_instant("start", payload.get("start"))
        if start != current.start:
            return self.reschedule(current.clinic_id, current.booking_id, start, source=source)
        latest = self.store.history(current.clinic_id, current.booking_id)[-1]
        return Recorded(latest, replayed=True)

    def erase_patient(self, clinic_id: str, patient_id: str, requested_by: str) -> Erasure:
        """Forget a patient of a clinic: every booking, its history, outbox rows, keys and
        callbacks here, and ``patient.erased`` queued for the worker and the notifier.

        Raises:
            InvalidBooking: an id no patient can have (naming it).
            RuntimeError: the service was built without erasure keys.
        """
        bad = [
            FieldError(name, "must be 1-128 letters, digits or . _ @ -")
            for name, value in (("clinic_id", clinic_id), ("patient_id", patient_id))
            if not is_key_part(value)
        ]
        if bad:
            raise InvalidBooking(bad)
        if self._eraser is None:
            raise RuntimeError("this booking service was built without erasure keys")
        return self._done(self._eraser.erase(clinic_id, patient_id, self.clock.now(), requested_by))

    def get(self, clinic_id: str, booking_id: str) -> Booking:
        """The booking's snapshot; :class:`BookingNotFound` if there is none."""
        _require_ids(clinic_id, booking_id)
        booking = self.store.get(clinic_id, booking_id)
        if booking is None:
            raise BookingNotFound(clinic_id, booking_id)
        return booking

    def history(self, clinic_id: str, booking_id: str) -> list[BookingEvent]:
        """The booking's events, oldest first; :class:`BookingNotFound` if there is none."""
        _require_ids(clinic_id, booking_id)
        events = self.store.history(clinic_id, booking_id)
        if not events:
            raise BookingNotFound(clinic_id, booking_id)
        return events

    def clinic_of(self, booking_id: str) -> str:
        """The one clinic holding ``booking_id``, for callers that did not name one.

        Raises:
            BookingNotFound: no clinic has it.
            AmbiguousBooking: several do; the caller must pass ``clinic_id``.
        """
        clinics = self.store.clinics_of(booking_id) if is_identifier(booking_id) else []
        if not clinics:
            raise BookingNotFound(None, booking_id)
        if len(clinics) > 1:
            raise AmbiguousBooking(
                f"booking {booking_id!r} exists at several clinics "
                f"({', '.join(clinics)}); pass clinic_id"
            )
        return clinics[0]

    def _change(
        self, clinic_id: str, booking_id: str, change: domain.Change, key: IdempotencyKey | None
    ) -> Recorded:
        _require_ids(clinic_id, booking_id)
        return self._done(self.store.update(clinic_id, booking_id, change, self._topic, key))

    def _grace(self, clinic_id: str) -> timedelta:
        return _grace_of(self.clinics, clinic_id)

    def _replayed(self, clinic_id: str, key: IdempotencyKey) -> Recorded | None:
        # A faithful repeat must return the first result even when the start it names
        # has since passed, so the key is looked at before the start is checked.
        return self.store.replay(clinic_id, key)

    def _done(self, recorded: R) -> R:
        if not isinstance(recorded, Recorded) or not recorded.replayed:
            self._notify()
        return recorded


def _grace_of(clinics: ClinicDirectory, clinic_id: str) -> timedelta:
    return timedelta(minutes=clinics.get(clinic_id).attendance_grace_minutes)


def _key(idempotency_key: str | None, *request: object) -> IdempotencyKey | None:
    if idempotency_key is None:
        return None
    key = domain.check_idempotency_key(idempotency_key)
    return IdempotencyKey(key, domain.fingerprint(*request))


def _require_ids(clinic_id: str, booking_id: str) -> None:
    """An id no booking can have is not found, without a database round trip."""
    if not (is_key_part(clinic_id) and is_identifier(booking_id)):
        raise BookingNotFound(clinic_id, booking_id)
