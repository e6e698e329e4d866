"""Masking by field: the keys we know hold personal data are masked whatever their value
looks like; every other string falls back to pattern masking (:mod:`services.shared.masking`).

Pattern masking alone shows what it does not recognise (``jane.doe@example_corp.com``
before its domain was allowed an underscore, ``07700 900123``, a first name, a
treatment); a field says what a value is, so it is masked even when it looks like nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from services.shared.masking import mask_email, mask_phone, mask_text

FIELD_RULE = re.compile(r'"(?P<key>[A-Za-z_]+)"\s*:\s*"(?P<value>(?:[^"\\]|\\.)*)"')
"""A ``"key": "value"`` pair in text that is cut JSON or JSON inside a sentence."""
MASKED = re.compile(r"\+?\d{1,5}\.\.\.\d{2,3}|.?\*\*\*(@\S*)?|\(hidden(, \d+ characters?)?\)")
"""What the masks below give: a view masked twice is the same as masked once."""


def mask_contact(value: str) -> str:
    """An address of either kind: an email's when it has an ``@``, else a phone's."""
    if "@" in value:
        return mask_email(value)
    if sum(c.isdigit() for c in value) >= 6:
        return mask_phone(value)
    return "***"


def mask_name(value: str) -> str:
    """``Jane`` becomes ``J***``: a first letter to tell two apart, no more."""
    return f"{value[:1]}***" if value else value


def mask_message(value: str) -> str:
    """A message's words are not shown at all: only how long it was."""
    if not value:
        return value
    return f"(hidden, {len(value)} character{'s' if len(value) != 1 else ''})"


def mask_hidden(value: str) -> str:
    return "(hidden)" if value else value


MASKS: dict[str, Callable[[str], str]] = {
    "phone": mask_contact,
    "email": mask_contact,
    "to": mask_contact,
    "from": mask_contact,
    "sender": mask_contact,
    "recipient": mask_contact,
    "address": mask_contact,
    "first_name": mask_name,
    "last_name": mask_name,
    "patient_name": mask_name,
    "body": mask_message,
    "text": mask_message,
    "html": mask_message,
    "subject": mask_message,
    "treatment": mask_hidden,
}
"""Every key whose string value is personal, and how it is masked."""


def mask_record(value: Any) -> Any:
    """A copy of a JSON-ready value, each personal field masked by its key, every other
    string by pattern; a ``payload`` string that is JSON is parsed and masked the same way.

    Only strings change: a ``consent`` ``{"email": true}`` keeps its booleans.
    """
    if isinstance(value, dict):
        return {key: _field(str(key), item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_record(item) for item in value]
    if isinstance(value, str):
        return mask_free_text(value)
    return value


def _field(key: str, value: Any) -> Any:
    if isinstance(value, str):
        mask = MASKS.get(key.lower())
        if mask is not None:
            return value if MASKED.fullmatch(value) else mask(value)
        if key == "payload":
            return mask_payload(value)
    return mask_record(value)


def mask_payload(text: str) -> str:
    """A record's payload: parsed and masked by field when it is JSON, else as free text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return mask_free_text(text)
    if not isinstance(parsed, dict | list):
        return mask_free_text(text)
    return json.dumps(mask_record(parsed), ensure_ascii=False)


def mask_free_text(text: str) -> str:
    """Pattern masking, plus any ``"phone": "..."`` pair left in cut or embedded JSON."""
    if '"' in text:
        text = FIELD_RULE.sub(_pair, text)
    return mask_text(text)


def _pair(match: re.Match[str]) -> str:
    mask = MASKS.get(match["key"].lower())
    if mask is None or MASKED.fullmatch(match["value"]):
        return match.group(0)
    return f'"{match["key"]}": "{mask(match["value"])}"'
