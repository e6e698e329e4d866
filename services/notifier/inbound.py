"""Texts patients send back: STOP and START change consent, HELP is answered, the rest goes to ops.

Kafka-free and HTTP-free: the webhook decodes the request, calls
:meth:`InboundTexts.handle`, and turns the reply into TwiML.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from services.notifier.keywords import Intent, Keyword, classify
from services.notifier.registry import ConsentRegistry
from services.ops.masking import mask_phone
from services.shared.clinics import ClinicDirectory
from services.shared.clock import Clock
from services.shared.events import Channel, ConsentChanged, DeadLetter, describe_errors, encode
from services.shared.topics import Topics

log = logging.getLogger(__name__)

Publish = Callable[[str, str | None, bytes], None]
"""Puts (topic, key, value) on the broker; blocks until it is acknowledged, raises if not."""

NEEDS_A_PERSON = "inbound reply needs a person"
INBOUND_SOURCE = "twilio.inbound"
FRENCH = frozenset({"ARRET", "AIDE"})


class InvalidInbound(ValueError):
    """A webhook request that is not a text we can act on; the message names the field."""


@dataclass(frozen=True)
class InboundSms:
    """One text as Twilio hands it over (``From``, ``To``, ``Body``, ``MessageSid``)."""

    sender: str
    to: str
    body: str
    message_sid: str


class InboundTexts:
    """Acts on each inbound text; returns the text to answer with, or None for no answer."""

    def __init__(
        self,
        registry: ConsentRegistry,
        topics: Topics,
        clinics: ClinicDirectory,
        numbers: Mapping[str, str],
        clock: Clock,
        publish: Publish,
    ) -> None:
        self._registry = registry
        self._topics = topics
        self._clinics = clinics
        self._numbers = dict(numbers)
        self._clock = clock
        self._publish = publish

    def handle(self, sms: InboundSms) -> str | None:
        """Record and publish a consent change, answer HELP, or hand the text to ops.

        Blocks on the database and the broker; their errors propagate (the
        registry keeps a change recorded before a failed publish).
        Raises :class:`InvalidInbound` when ``From`` is not a phone number.
        """
        keyword = classify(sms.body)
        clinic_id = self._numbers.get(sms.to)
        if keyword.intent in (Intent.OPT_OUT, Intent.OPT_IN):
            self._change_consent(sms, clinic_id, keyword)
            return None
        if keyword.intent is Intent.HELP:
            return self._help(clinic_id, keyword)
        self._to_ops(sms, clinic_id)
        return None

    def _change_consent(self, sms: InboundSms, clinic_id: str | None, keyword: Keyword) -> None:
        try:
            change = ConsentChanged(
                clinic_id=clinic_id,
                phone=sms.sender,
                channel=Channel.SMS,
                granted=keyword.intent is Intent.OPT_IN,
                keyword=keyword.word,
                occurred_at=self._clock.now(),
            )
        except ValidationError as exc:
            raise InvalidInbound(f"From: {describe_errors(exc)}") from exc
        self._registry.record(change)
        self._publish(self._topics.consent, change.key, encode(change))
        verb = "opted back in to" if change.granted else "opted out of"
        log.info("%s %s texts from %s", mask_phone(sms.sender), verb, clinic_id or "any clinic")

    def _help(self, clinic_id: str | None, keyword: Keyword) -> str:
        clinic = self._clinics.get(clinic_id) if clinic_id else None
        name = clinic.name if clinic else "Your clinic"
        if keyword.word in FRENCH:
            call = f" Questions : {clinic.phone}." if clinic and clinic.phone else ""
            return f"{name} : rappels de rendez-vous. ARRET pour ne plus recevoir.{call}"
        call = f" Questions: call {clinic.phone}." if clinic and clinic.phone else ""
        return f"{name}: appointment reminders. Reply STOP to opt out, START to opt in.{call}"

    def _to_ops(self, sms: InboundSms, clinic_id: str | None) -> None:
        payload = {
            "from": sms.sender,
            "to": sms.to,
            "clinic_id": clinic_id,
            "body": sms.body,
            "message_sid": sms.message_sid,
        }
        letter = DeadLetter(
            service="notifier",
            topic=INBOUND_SOURCE,
            key=f"{clinic_id or '*'}:{sms.sender}",
            payload=json.dumps(payload, ensure_ascii=False),
            reason=NEEDS_A_PERSON,
            occurred_at=self._clock.now(),
        )
        self._publish(self._topics.notifications_dlq, letter.key, encode(letter))
        log.warning(
            "reply from %s to %s needs a person (MessageSid %s); on %s",
            mask_phone(sms.sender),
            clinic_id or "an unmapped number",
            sms.message_sid,
            self._topics.notifications_dlq,
        )
