"""Masking phones and emails wherever they appear in what ops tools show."""

from __future__ import annotations

from services.shared.masking import mask_phone, mask_text, mask_value


def test_a_uk_mobile_keeps_its_country_prefix_and_last_three_digits() -> None:
    assert mask_phone("+447700900123") == "+4477...123"


def test_text_masks_every_phone_and_email_and_leaves_the_rest() -> None:
    text = "sent to +447700900123 and jane.doe@example.com for bk-1001 at 10:00"
    assert mask_text(text) == "sent to +4477...123 and j***@example.com for bk-1001 at 10:00"


def test_a_short_number_is_masked_too() -> None:
    assert "0900123" not in mask_text("+4470900123")


def test_nested_values_are_masked_and_other_types_kept() -> None:
    value = {
        "patient": {"phone": "+33612345678", "email": "a@b.fr", "consent": {"sms": True}},
        "channels": ["sms", "email"],
        "session": 2,
    }
    assert mask_value(value) == {
        "patient": {"phone": "+3361...678", "email": "a***@b.fr", "consent": {"sms": True}},
        "channels": ["sms", "email"],
        "session": 2,
    }


def test_identifiers_that_look_like_nothing_personal_stay_readable() -> None:
    assert mask_text("dr-jenny:p-42 bk-1001:pre-treatment-24h:1") == (
        "dr-jenny:p-42 bk-1001:pre-treatment-24h:1"
    )
