"""Phone numbers: read with ``phonenumbers``, kept as E.164, and judged for texts.

A clinic's system exports numbers as its staff typed them ("07700 900123",
"+44 (0)20 7946 0000"): :func:`to_e164` reads them with the clinic's country
as the default region and returns the one form every event carries. A number
``phonenumbers`` does not know as assigned is refused, except Ofcom's ranges
set aside for drama (07700 900000 to 900999), which reach nobody and so serve
demos and tests. :func:`why_no_texts` says why a number cannot take a text (a
landline, a freephone line) so that its SMS is skipped with that reason.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberType

FICTION = ("+447700900",)
"""E.164 prefixes reserved for fiction: never assigned, accepted as mobile numbers."""

NO_TEXTS = {
    PhoneNumberType.FIXED_LINE: "a landline",
    PhoneNumberType.TOLL_FREE: "a freephone number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a company's switchboard number",
    PhoneNumberType.VOICEMAIL: "a voicemail number",
}
"""Kinds of number a text cannot reach, as a person would name them."""

_FORMS = " (E.164 such as +447700900123, or as the clinic's country writes it)"

_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "its country code is not known",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}


def to_e164(raw: str, region: str | None = None) -> str:
    """``raw`` as E.164; a number without ``+`` is read as one of ``region`` (``GB``).

    Raises ValueError naming what is wrong with it.
    """
    if not raw.strip() or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise ValueError(f"phone {raw!r} holds a line break or control character")
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else region)
    except NumberParseException as exc:
        why = _PARSE_ERRORS.get(exc.error_type, str(exc))
        raise ValueError(f"phone {raw!r} is not valid: {why}{_FORMS}") from exc
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not (_fiction(e164) or phonenumbers.is_valid_number(number)):
        where = phonenumbers.region_code_for_number(number) or region or "its country"
        raise ValueError(f"phone {raw!r} is not a number in use in {where}{_FORMS}")
    return e164


def why_no_texts(e164: str) -> str | None:
    """Why a text cannot reach ``e164`` (``"a landline"``), or None when it can."""
    if _fiction(e164):
        return None
    kind = phonenumbers.number_type(_parsed(e164))
    return NO_TEXTS.get(kind)


def _fiction(e164: str) -> bool:
    return e164.startswith(FICTION) and len(e164) == len("+447700900123")


def _parsed(e164: str) -> PhoneNumber:
    return phonenumbers.parse(e164, None)
