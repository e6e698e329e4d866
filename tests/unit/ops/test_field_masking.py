"""Masking by field: what we know is personal is masked whatever it looks like."""

from __future__ import annotations

import json

from services.shared.fields import mask_payload, mask_record
from services.shared.masking import mask_text


def test_odd_addresses_under_personal_fields_are_masked() -> None:
    record = {
        "patient": {
            "first_name": "Jane",
            "email": "jane.doe@example_corp.com",
            "phone": "07700 900123",
            "consent": {"sms": True, "email": True},
        },
        "treatment": "microsclerotherapy",
    }
    masked = mask_record(record)
    assert masked == {
        "patient": {
            "first_name": "J***",
            "email": "j***@example_corp.com",
            "phone": "077...123",
            "consent": {"sms": True, "email": True},
        },
        "treatment": "(hidden)",
    }
    text = json.dumps(masked)
    for personal in ("Jane", "jane.doe", "900123", "microsclerotherapy"):
        assert personal not in text


def test_message_fields_show_only_their_length() -> None:
    masked = mask_record({"to": "+447700900123", "from": "clinic@example.org", "body": "Hi Jane"})
    assert masked == {
        "to": "+4477...123",
        "from": "c***@example.org",
        "body": "(hidden, 7 characters)",
    }
    assert mask_record({"subject": "x", "text": "", "html": None}) == {
        "subject": "(hidden, 1 character)",
        "text": "",
        "html": None,
    }


def test_a_json_payload_is_parsed_and_masked_by_field() -> None:
    payload = json.dumps({"data": {"patient": {"first_name": "Jane", "phone": "+447700900123"}}})
    masked = mask_record({"payload": payload, "reason": "no template for jane@example.com"})
    inner = json.loads(masked["payload"])
    assert inner == {"data": {"patient": {"first_name": "J***", "phone": "+4477...123"}}}
    assert masked["reason"] == "no template for j***@example.com"


def test_a_payload_that_is_not_json_is_masked_as_free_text_even_when_cut() -> None:
    cut = '{"patient": {"first_name": "Jane", "email": "jane.doe@example_corp.com", "pho'
    masked = mask_payload(cut)
    assert "Jane" not in masked and "jane.doe" not in masked
    assert '"first_name": "J***"' in masked


def test_masking_twice_is_masking_once() -> None:
    once = mask_record({"phone": "+447700900123", "body": "Call me", "first_name": "Jane"})
    assert mask_record(once) == once
    assert mask_payload(json.dumps(once)) == json.dumps(once)


def test_free_text_masks_national_and_spaced_numbers_and_underscored_domains() -> None:
    assert mask_text("call 07700 900123 or +44 7700 900123") == "call 077...123 or +4477...123"
    assert mask_text("07700900123") == "077...123"
    assert mask_text("to jane.doe@example_corp.com") == "to j***@example_corp.com"
    for kept in ("2026-11-30T10:00:00+00:00", "bookings:2:15", "1731 1982 2330", "r-0123456789"):
        assert mask_text(kept) == kept
