"""Masking of phone numbers and email addresses found in free text, before it is shown or
logged: the fallback where no field says what a value is (see :mod:`services.shared.fields`).
"""

from __future__ import annotations

import re
from typing import Any

PHONE = re.compile(r"\+\d{7,15}\b")
SPACED_PHONE = re.compile(r"(?<![\w+])(?:\+\d{1,3}[ -]?|0)\d{1,4}(?:[ -]\d{2,6}){1,5}(?![\w-])")
"""``+44 7700 900123``, ``07700 900123``, ``0161-496-0000``: a number written as people do."""
NATIONAL_PHONE = re.compile(r"(?<![\w+.:-])0\d{9,10}(?![\w.:-])")
"""``07700900123``: ten or eleven digits led by a trunk 0, standing alone."""
LOOKS_LIKE_NUMBER = re.compile(r"[+0]\d[\d -]{7}")
"""A cheap first look, run on every log line: most have nothing that could be a number."""
EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9_.-]+\.[A-Za-z]{2,})")
MIN_SPACED_DIGITS = 9


def mask_phone(phone: str) -> str:
    """``+447700900123`` becomes ``+4477...123``, ``07700 900123`` ``077...123``: enough to
    tell numbers apart, not to dial."""
    digits = re.sub(r"[^\d+]", "", phone)
    if len(digits) <= 8:
        return digits[:2] + "..." + digits[-2:]
    if digits.startswith("+"):
        return f"{digits[:5]}...{digits[-3:]}"
    return f"{digits[:3]}...{digits[-3:]}"


def mask_email(address: str) -> str:
    """``jane.doe@example_corp.com`` becomes ``j***@example_corp.com``; not an address: ``***``."""
    local, at, domain = address.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_text(text: str) -> str:
    """Mask every phone number and email address found anywhere in ``text``."""
    if "+" in text:  # every line is masked: skip the searches that cannot match
        text = PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    if "@" in text:
        text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    if _may_hold_a_number(text):
        text = SPACED_PHONE.sub(_spaced, text)
        text = NATIONAL_PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    return text


def _may_hold_a_number(text: str) -> bool:
    # A lookbehind in the pattern would cost ten times as much on every line.
    for found in LOOKS_LIKE_NUMBER.finditer(text):
        if found.start() == 0 or not text[found.start() - 1].isdigit():
            return True
    return False


def _spaced(match: re.Match[str]) -> str:
    found = match.group(0)
    digits = sum(c.isdigit() for c in found)
    return mask_phone(found) if digits >= MIN_SPACED_DIGITS else found


def mask_value(value: Any) -> Any:
    """A copy of a JSON-ready value with every string in it masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item) for item in value]
    return value
