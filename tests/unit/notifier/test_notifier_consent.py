"""Consent: a message goes only where the patient agreed to receive it."""

from __future__ import annotations

import pytest

from services.notifier.patients.consent import recipient
from services.shared.events import Channel, Consent
from tests.support.reminders import patient


def test_sms_and_email_go_to_a_consenting_patient() -> None:
    jane = patient()
    assert recipient(jane, Channel.SMS).address == "+447700900123"
    assert recipient(jane, Channel.EMAIL).address == "jane@example.com"


@pytest.mark.parametrize(
    ("overrides", "channel", "reason"),
    [
        ({"consent": Consent(sms=False, email=True)}, Channel.SMS, "no SMS consent"),
        ({"phone": None}, Channel.SMS, "no phone number"),
        ({"consent": Consent(sms=True, email=False)}, Channel.EMAIL, "no email consent"),
        ({"email": None}, Channel.EMAIL, "no email address"),
    ],
)
def test_no_message_without_consent_and_an_address(
    overrides: dict[str, object], channel: Channel, reason: str
) -> None:
    found = recipient(patient(**overrides), channel)
    assert found.address is None and found.reason == reason
