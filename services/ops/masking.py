"""Masking of phone numbers and email addresses before anything is shown or logged."""

from __future__ import annotations

import re
from typing import Any

PHONE = re.compile(r"\+\d{7,15}\b")
EMAIL = re.compile(r"\b([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_phone(phone: str) -> str:
    """``+447700900123`` becomes ``+4477...123``: enough to tell numbers apart, not to dial."""
    if len(phone) <= 8:
        return phone[:2] + "..." + phone[-2:]
    return f"{phone[:5]}...{phone[-3:]}"


def mask_text(text: str) -> str:
    """Mask every phone number (E.164) and email address found anywhere in ``text``."""
    if "+" in text:  # every line is masked: skip the searches that cannot match
        text = PHONE.sub(lambda m: mask_phone(m.group(0)), text)
    if "@" in text:
        text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return text


def mask_value(value: Any) -> Any:
    """A copy of a JSON-ready value with every string in it masked."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {key: mask_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(item) for item in value]
    return value
