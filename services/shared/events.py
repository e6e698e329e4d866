"""Event contracts shared by every service: one definition of each, with a version.

Events are immutable pydantic models with time-zone-aware datetimes. They are
turned into bytes and back only at the edge, through :func:`encode` and the
``decode_*`` helpers, which raise :class:`InvalidEvent` naming what is wrong.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
)

from services.shared.phones import to_e164

SCHEMA_VERSION: Literal[1] = 1

# Always with fullmatch: ``$`` with ``match`` also matches before a final newline,
# which let "+447700900123\n" past the consent registry's STOP.
E164 = re.compile(r"\+[1-9]\d{6,14}")
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class InvalidEvent(ValueError):
    """Bytes that are not a valid event; never retried, dead-lettered with this reason."""


def _iana_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone {value!r}") from exc
    return value


def _e164(value: str) -> str:
    if not E164.fullmatch(value):
        raise ValueError(f"phone {value!r} is not in E.164 form, e.g. +447700900123")
    return _in_use(value)


@lru_cache(maxsize=4096)
def _in_use(e164: str) -> str:
    # A number in use (services/shared/phones.py); remembered, as one patient's
    # events and reminders carry the same number again and again.
    return to_e164(e164)


def _email(value: str) -> str:
    if not EMAIL.fullmatch(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _printable(value: str) -> str:
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        raise ValueError("must not hold control characters (NUL, CR, LF, ...)")
    return value


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past the last UTC instant
        raise ValueError(f"{value.isoformat()} is out of range") from exc


TimeZoneName = Annotated[str, AfterValidator(_iana_zone)]
Phone = Annotated[str, AfterValidator(_e164)]
Email = Annotated[str, AfterValidator(_email)]
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
ID_CHARACTERS = "A-Za-z0-9._:@-"
"""What a booking id may hold; a clinic or patient id the same without ``:``."""
IDENTIFIER = re.compile(f"[{ID_CHARACTERS}]{{1,128}}")
KEY_PART = re.compile(f"[{ID_CHARACTERS.replace(':', '')}]{{1,128}}")


def is_identifier(value: object) -> bool:
    """Whether ``value`` can be a booking id at all (a cheap check before a lookup)."""
    return isinstance(value, str) and IDENTIFIER.fullmatch(value) is not None and not _dots(value)


def is_key_part(value: object) -> bool:
    """Whether ``value`` can be a clinic or patient id at all."""
    return isinstance(value, str) and KEY_PART.fullmatch(value) is not None and not _dots(value)


def _dots(value: str) -> bool:
    """``.`` and ``..`` (or more dots): a folder's own name or its parent's in a path."""
    return value.strip(".") == ""


def _not_only_dots(value: str) -> str:
    if _dots(value):
        raise ValueError("an id of dots only would name a folder or its parent")
    return value


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=f"^{IDENTIFIER.pattern}$"),
    AfterValidator(_not_only_dots),
]
KeyPart = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=f"^{KEY_PART.pattern}$",
        description="no ':' (it joins clinic and patient in every event's key); not dots only",
    ),
    AfterValidator(_not_only_dots),
]
"""A clinic or patient id: an identifier without ``:``, so that ``clinic:patient``
keys cannot collide across clinics (``acme``/``x:p1`` and ``acme:x``/``p1``)."""


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Channel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class AppointmentKind(StrEnum):
    CONSULTATION = "consultation"
    TREATMENT = "treatment"
    REVIEW = "review"


class BookingStatus(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class BookingEventType(StrEnum):
    CREATED = "booking.created"
    RESCHEDULED = "booking.rescheduled"
    CANCELLED = "booking.cancelled"
    ATTENDED = "booking.attended"
    NO_SHOW = "booking.no_show"
    CONFIRMED = "booking.confirmed"
    """The patient confirmed by text; the snapshot (status, schedule version) is unchanged."""
    RESYNCED = "booking.resynced"
    """Re-publication of the stored snapshot by ``clinic-reminders resync``."""


class Consent(Frozen):
    sms: bool = False
    email: bool = False


class Patient(Frozen):
    id: KeyPart
    first_name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_printable)]
    phone: Phone | None = None
    email: Email | None = None
    locale: Annotated[str, Field(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "en-GB"
    timezone: TimeZoneName = "Europe/London"
    consent: Consent = Consent()


class Booking(Frozen):
    """A booking as the booking service last knew it (a full snapshot, v1)."""

    clinic_id: KeyPart
    booking_id: Identifier
    patient: Patient
    treatment: Identifier
    kind: AppointmentKind
    session_number: Annotated[int, Field(ge=1, le=20)] = 1
    sessions_planned: Annotated[int, Field(ge=1, le=20)] | None = None
    start: UtcDatetime
    duration_minutes: Annotated[int, Field(ge=5, le=600)] = 45
    status: BookingStatus = BookingStatus.BOOKED
    schedule_version: Annotated[int, Field(ge=1)] = 1
    booked_at: UtcDatetime | None = None

    @property
    def patient_key(self) -> str:
        return patient_key(self.clinic_id, self.patient.id)


def patient_key(clinic_id: str, patient_id: str) -> str:
    """The Kafka key of every event about one patient: keeps their events in order."""
    return f"{clinic_id}:{patient_id}"


class BookingEvent(Frozen):
    """Envelope on ``clinic.bookings.v1``; ``data`` is the booking after the change."""

    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: BookingEventType
    schema_version: Literal[1] = SCHEMA_VERSION
    occurred_at: UtcDatetime
    clinic_id: KeyPart
    source: Annotated[str, Field(min_length=1, max_length=64)] = "api"
    data: Booking

    @property
    def key(self) -> str:
        return self.data.patient_key


class ReminderDue(Frozen):
    """On ``clinic.reminders.due.v1``: one milestone of one booking, due now."""

    type: Literal["reminder.due"] = "reminder.due"
    schema_version: Literal[1] = SCHEMA_VERSION
    reminder_id: str
    clinic_id: KeyPart
    booking_id: Identifier
    patient: Patient
    treatment: Identifier
    kind: AppointmentKind
    milestone: str
    template: str
    channels: tuple[Channel, ...]
    due_at: UtcDatetime
    stale_at: UtcDatetime | None = None
    appointment_start: UtcDatetime
    schedule_version: int | None = None
    """The booking's schedule version this reminder was planned from (None: a record
    from before the field, judged on a cancel only)."""
    booking_status: BookingStatus | None = None
    """The booking's status this reminder was planned from (None as above)."""
    duration_minutes: int = 45
    session_number: int = 1
    sessions_planned: int | None = None
    context: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    emitted_at: UtcDatetime
    catch_up: bool = False
    """Came due before its plan was rebuilt from the booking store (the broker had
    lost it): it may have gone out already, so the notifier judges it by its ledger,
    and one not sent that is no longer useful is recorded as missed."""

    @property
    def key(self) -> str:
        return patient_key(self.clinic_id, self.patient.id)


class DeliveryState(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    RETRYING = "retrying"
    """A transient failure: the notifier tries again while the message is still useful."""


REPLAY_HEADER = "clinic-replay-of"
"""Kafka header on a record replayed from a dead-letter topic: the dead letter's id."""


class NotificationStatus(Frozen):
    """On ``clinic.notifications.status.v1``: what became of one reminder on one channel."""

    type: Literal["notification.status"] = "notification.status"
    schema_version: Literal[1] = SCHEMA_VERSION
    reminder_id: str
    clinic_id: KeyPart
    booking_id: Identifier
    milestone: str
    channel: Channel
    state: DeliveryState
    reason: str | None = None
    provider_id: str | None = None
    occurred_at: UtcDatetime


class ConsumedRecord(Protocol):
    """What a dead letter takes of a consumed record (kafka-python's and Faust's have it)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class DeadLetter(Frozen):
    """On a ``*.dlq.v1`` topic: a record that could not be processed, and why."""

    type: Literal["dead_letter"] = "dead_letter"
    schema_version: Literal[1] = SCHEMA_VERSION
    service: str
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    payload: str
    reason: str
    occurred_at: UtcDatetime

    @classmethod
    def of(
        cls, service: str, record: ConsumedRecord, reason: str, occurred_at: datetime
    ) -> DeadLetter:
        """``record`` as ``service`` could not process it: where it was, its key and value
        as text (undecodable bytes replaced), and ``reason``."""
        key, raw = record.key, record.value
        return cls(
            service=service,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=key.decode(errors="replace") if isinstance(key, bytes) else None,
            payload=raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or ""),
            reason=reason,
            occurred_at=occurred_at,
        )


Event = TypeVar("Event", bound=Frozen)


def encode(event: Frozen) -> bytes:
    """Serialise an event to the JSON bytes carried on the topic."""
    return event.model_dump_json().encode()


def decode(model: type[Event], raw: bytes | str) -> Event:
    """Parse bytes into ``model``; raise :class:`InvalidEvent` naming every bad field."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidEvent(describe_errors(exc)) from exc


def describe_errors(exc: ValidationError) -> str:
    """One line per bad field: ``data.patient.phone: phone '123' is not in E.164 form``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


class ConsentChanged(Frozen):
    """On ``clinic.consent.v1``: a patient gave or withdrew consent on one channel.

    Names the patient by ``phone`` (E.164), ``email``, ``patient_id``, or more
    than one; at least one is required. An SMS keyword names the phone, an
    email's unsubscribe link the address. ``clinic_id`` None means every clinic
    that texts from the number the patient answered (the clinic behind it was
    not known).
    """

    type: Literal["consent.changed"] = "consent.changed"
    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    clinic_id: KeyPart | None = None
    phone: Phone | None = None
    email: Email | None = None
    patient_id: KeyPart | None = None
    channel: Channel
    granted: bool
    source: Annotated[str, Field(min_length=1, max_length=64)] = "sms-keyword"
    keyword: Annotated[str, Field(max_length=32)] | None = None
    occurred_at: UtcDatetime

    def model_post_init(self, context: object) -> None:
        if self.phone is None and self.email is None and self.patient_id is None:
            raise ValueError("phone, email or patient_id is required")

    @property
    def key(self) -> str:
        """``clinic:patient`` if the patient is known, else ``clinic:phone`` or ``clinic:email``."""
        return f"{self.clinic_id or '*'}:{self.patient_id or self.phone or self.email}"


class ReplyIntent(StrEnum):
    CONFIRM = "confirm"
    REARRANGE = "rearrange"


class PatientReplied(Frozen):
    """On ``clinic.replies.v1``: a patient answered by text with one of the clinic's words.

    Names the booking the notifier linked the reply to (the patient's next one,
    by the phone that sent it). ``message_sid`` is Twilio's id of the text: a
    consumer that acts on a reply does so once per id.
    """

    type: Literal["patient.replied"] = "patient.replied"
    schema_version: Literal[1] = SCHEMA_VERSION
    message_sid: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]
    clinic_id: KeyPart
    booking_id: Identifier
    patient_id: KeyPart
    intent: ReplyIntent
    word: Annotated[str, Field(min_length=1, max_length=20)]
    received_at: UtcDatetime
    """When the notifier first received the text."""

    @property
    def key(self) -> str:
        return patient_key(self.clinic_id, self.patient_id)
