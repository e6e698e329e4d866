"""A poll takes no more reminders than the SMS rate (or the SMTP relay's) sends in a minute, so a
batch behind a provider's pacing never outlasts the group's poll interval."""

from __future__ import annotations

from services.notifier.bootstrap import POLL_RECORDS, POLL_SECONDS, poll_records
from services.notifier.settings import NotifierSettings


def test_a_long_code_at_one_segment_a_second_takes_a_minute_of_texts_per_poll() -> None:
    settings = NotifierSettings(sms_provider="twilio", sms_rate_per_second=1.0)
    assert poll_records(settings) == POLL_SECONDS == 60


def test_a_fast_sender_takes_a_full_poll() -> None:
    settings = NotifierSettings(sms_provider="twilio", sms_rate_per_second=100.0)
    assert poll_records(settings) == POLL_RECORDS


def test_a_very_slow_sender_still_takes_one() -> None:
    settings = NotifierSettings(sms_provider="twilio", sms_rate_per_second=0.001)
    assert poll_records(settings) == 1


def test_the_local_sinks_wait_for_no_rate() -> None:
    assert poll_records(NotifierSettings(sms_rate_per_second=1.0)) == POLL_RECORDS


def test_a_relay_with_a_rate_bounds_the_poll_as_the_sms_rate_does() -> None:
    relay = {"email_provider": "smtp", "email_rate_per_second": 0.5}  # 30 a minute
    assert poll_records(NotifierSettings(**relay)) == 30  # type: ignore[arg-type]
    texts = NotifierSettings(sms_provider="twilio", sms_rate_per_second=1.0, **relay)  # type: ignore[arg-type]
    assert poll_records(texts) == 30  # the slower of the two
    assert poll_records(NotifierSettings(email_provider="smtp")) == POLL_RECORDS  # no rate set


def test_only_providers_over_the_network_are_handed_messages_side_by_side() -> None:
    assert NotifierSettings(notifier_concurrency=16).side_by_side == 1  # the local sinks
    assert NotifierSettings(notifier_concurrency=16, sms_provider="twilio").side_by_side == 16
    assert NotifierSettings(notifier_concurrency=8, email_provider="smtp").side_by_side == 8
