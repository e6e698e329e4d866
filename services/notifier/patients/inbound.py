"""Texts patients send back: STOP and START change consent, HELP is answered, a confirmation
goes to the booking service, and everything else to the clinic's replies inbox.

Kafka-free and HTTP-free: the webhook decodes the request, calls
:meth:`InboundTexts.handle`, and turns the answer into TwiML. Each text is acted
on once, by its MessageSid (:mod:`inbound_log`), and dated by its first receipt.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import TypeAdapter, ValidationError

from services.notifier.bookings.seen import PatientBooking
from services.notifier.patients.answers import confirmed_text, help_text, is_french, rearrange_text
from services.notifier.patients.inbound_log import InboundLog
from services.notifier.patients.keywords import Intent, Keyword, classify
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import UNMAPPED, InboxReply, RepliesInbox, ReplyKind
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.clock import Clock
from services.shared.events import (
    BookingStatus,
    Channel,
    ConsentChanged,
    PatientReplied,
    Phone,
    ReplyIntent,
    encode,
)
from services.shared.masking import mask_phone
from services.shared.reply_words import words_for
from services.shared.topics import Topics

log = logging.getLogger(__name__)

Publish = Callable[[str, str | None, bytes], None]
"""Puts (topic, key, value) on the broker; blocks until it is acknowledged, raises if not."""

_phone: TypeAdapter[str] = TypeAdapter(Phone)
_SID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


class InvalidInbound(ValueError):
    """A webhook request that is not a text we can act on; the message names the field."""


@dataclass(frozen=True)
class InboundSms:
    """One text as Twilio hands it over (``From``, ``To``, ``Body``, ``MessageSid``)."""

    sender: str
    to: str
    body: str
    message_sid: str


class PatientBookings(Protocol):
    def for_phone(
        self, clinic_id: str | None, phone: str, now: datetime
    ) -> PatientBooking | None: ...


@dataclass(frozen=True)
class InboundStores:
    """Where texts are recorded and looked up, all in the notifier's database."""

    registry: ConsentRegistry
    bookings: PatientBookings
    inbox: RepliesInbox
    log: InboundLog


@dataclass(frozen=True)
class _Text:
    """One text with what it is about: the clinic, the patient's booking, the word."""

    sms: InboundSms
    at: datetime
    mapped: str | None
    clinic_id: str | None
    clinic: ClinicInfo | None
    booking: PatientBooking | None
    keyword: Keyword

    @property
    def french(self) -> bool:
        return is_french(self.booking.locale if self.booking else None, self.keyword.word)


class InboundTexts:
    """Acts on each inbound text; returns the text to answer with, or None for no answer."""

    def __init__(
        self,
        stores: InboundStores,
        topics: Topics,
        clinics: ClinicDirectory,
        numbers: Mapping[str, str],
        clock: Clock,
        publish: Publish,
    ) -> None:
        self._stores = stores
        self._topics = topics
        self._clinics = clinics
        self._numbers = dict(numbers)
        self._clock = clock
        self._publish = publish

    def handle(self, sms: InboundSms) -> str | None:
        """Act on ``sms`` once; a text handled before changes nothing and is answered the same.

        Blocks on the database and the broker; their errors propagate, and the
        text is handled again (as of its first receipt) when Twilio sends it again.
        Raises :class:`InvalidInbound` when ``From`` or ``MessageSid`` is not usable.
        """
        _check(sms)
        first = self._stores.log.receive(sms.message_sid, self._clock.now(), sms.sender)
        if first.handled:
            log.info("text %s was handled already; answered as before", sms.message_sid)
            return first.answer
        answer = self._act(self._read(sms, first.received_at))
        self._stores.log.handled(sms.message_sid, self._clock.now(), answer)
        return answer

    def _read(self, sms: InboundSms, at: datetime) -> _Text:
        mapped = self._numbers.get(sms.to)
        # Numbers mapped, this one not among them: the text is no clinic's to act on.
        unmapped = bool(self._numbers) and mapped is None
        booking = None if unmapped else self._stores.bookings.for_phone(mapped, sms.sender, at)
        clinic_id = mapped or (booking.clinic_id if booking else None)
        clinic = self._clinics.get(clinic_id) if clinic_id else None
        locale = booking.locale if booking else "en-GB"
        words = clinic.reply_words(locale) if clinic else words_for(locale)
        return _Text(sms, at, mapped, clinic_id, clinic, booking, classify(sms.body, words))

    def _act(self, text: _Text) -> str | None:
        intent = text.keyword.intent
        if intent in (Intent.OPT_OUT, Intent.OPT_IN):
            self._change_consent(text)
            return None
        if intent is Intent.HELP:
            return help_text(text.clinic, text.french)
        if intent is Intent.CONFIRM:
            return self._confirm(text)
        if intent is Intent.REARRANGE:
            return self._rearrange(text)
        self._to_inbox(text, ReplyKind.MESSAGE)
        return None

    def _change_consent(self, text: _Text) -> None:
        change = ConsentChanged(
            clinic_id=text.mapped,
            phone=text.sms.sender,
            channel=Channel.SMS,
            granted=text.keyword.intent is Intent.OPT_IN,
            keyword=text.keyword.word,
            occurred_at=text.at,
        )
        self._stores.registry.record(change)
        self._publish(self._topics.consent, change.key, encode(change))
        verb = "opted back in to" if change.granted else "opted out of"
        sender = mask_phone(text.sms.sender)
        log.info("%s %s texts from %s", sender, verb, text.mapped or "any clinic")
        if not change.granted:
            self._to_inbox(text, ReplyKind.OPTED_OUT)

    def _confirm(self, text: _Text) -> str | None:
        booking = text.booking
        if text.clinic is None or booking is None or not _to_come(booking, text.at):
            self._to_inbox(text, ReplyKind.UNMATCHED_CONFIRM)
            return None
        self._tell_booking(text, booking, ReplyIntent.CONFIRM)
        return confirmed_text(text.clinic, text.french)

    def _rearrange(self, text: _Text) -> str | None:
        self._to_inbox(text, ReplyKind.REARRANGE)
        if text.booking is not None:
            self._tell_booking(text, text.booking, ReplyIntent.REARRANGE)
        return rearrange_text(text.clinic, text.french) if text.clinic else None

    def _tell_booking(self, text: _Text, booking: PatientBooking, intent: ReplyIntent) -> None:
        reply = PatientReplied(
            message_sid=text.sms.message_sid,
            clinic_id=booking.clinic_id,
            booking_id=booking.booking_id,
            patient_id=booking.patient_id,
            intent=intent,
            word=text.keyword.word or "",
            received_at=text.at,
        )
        self._publish(self._topics.replies, reply.key, encode(reply))
        log.info("booking %s: the patient asks to %s", booking.booking_id, intent.value)

    def _to_inbox(self, text: _Text, kind: ReplyKind) -> None:
        booking = text.booking
        reply = InboxReply(
            message_sid=text.sms.message_sid,
            clinic_id=text.clinic_id or UNMAPPED,
            phone=text.sms.sender,
            kind=kind,
            word=text.keyword.word,
            body=text.sms.body,
            booking_id=booking.booking_id if booking else None,
            patient_id=booking.patient_id if booking else None,
            received_at=text.at,
        )
        self._stores.inbox.add(reply)
        log.info(
            "reply from %s to %s in the inbox: %s (MessageSid %s)",
            mask_phone(text.sms.sender),
            text.clinic_id or "an unmapped number",
            reply.summary,
            text.sms.message_sid,
        )


def _to_come(booking: PatientBooking, at: datetime) -> bool:
    return booking.status is BookingStatus.BOOKED and booking.start > at


def _check(sms: InboundSms) -> None:
    try:
        _phone.validate_python(sms.sender)
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise InvalidInbound(f"From: {reason}") from exc
    if not 0 < len(sms.message_sid) <= 64 or not set(sms.message_sid) <= _SID_CHARS:
        raise InvalidInbound("MessageSid: must be Twilio's id of the text (letters and digits)")
