"""No service starts with an open door beyond loopback, a short key or an example secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.booking.settings import BookingSettings
from services.notifier.settings import NotifierSettings
from services.ops.settings import OpsSettings
from services.reminders.settings import ReminderSettings
from services.shared.safe_start import is_example, on_loopback
from services.shared.settings import load_settings

GOOD_KEY = "k" * 32


def booking(tmp_path: Path, **given: Any) -> list[str]:
    return BookingSettings(var_dir=tmp_path, **given).refusals()


def notifier(tmp_path: Path, **given: Any) -> list[str]:
    return NotifierSettings(var_dir=tmp_path, **given).refusals()


def test_the_embedded_demo_on_loopback_starts_as_before(tmp_path: Path) -> None:
    assert booking(tmp_path) == []
    assert notifier(tmp_path) == []
    assert ReminderSettings(var_dir=tmp_path).refusals() == []
    assert OpsSettings(var_dir=tmp_path).refusals() == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "booking.internal"])
def test_an_open_booking_api_beyond_loopback_is_refused(tmp_path: Path, host: str) -> None:
    [refusal] = booking(tmp_path, booking_host=host)
    assert refusal.startswith(
        f"CLINIC_BOOKING_API_KEYS is empty while the booking API listens on {host}"
    )


def test_a_keyed_booking_api_beyond_loopback_starts(tmp_path: Path) -> None:
    keys = {"dr-jenny": SecretStr(GOOD_KEY), "dr-amir": SecretStr("a" * 64)}
    assert booking(tmp_path, booking_host="0.0.0.0", booking_api_keys=keys) == []


def test_a_key_shorter_than_32_characters_is_refused_even_on_loopback(tmp_path: Path) -> None:
    keys = {"dr-jenny": SecretStr(GOOD_KEY), "dr-amir": SecretStr("k" * 31)}
    assert booking(tmp_path, booking_api_keys=keys) == [
        "CLINIC_BOOKING_API_KEYS: the key of clinic 'dr-amir' has 31 characters; "
        "at least 32 are needed (e.g. `openssl rand -hex 32`)"
    ]


def test_the_example_key_is_refused(tmp_path: Path) -> None:
    found = booking(tmp_path, booking_api_keys={"dr-jenny": SecretStr("change-me")})
    assert any("CLINIC_BOOKING_API_KEYS[dr-jenny] is still the example value" in f for f in found)


def test_twilio_without_its_token_is_refused(tmp_path: Path) -> None:
    [refusal] = notifier(tmp_path, sms_provider="twilio", twilio_account_sid="AC" + "1" * 32)
    assert refusal.startswith("CLINIC_TWILIO_AUTH_TOKEN is empty with CLINIC_SMS_PROVIDER=twilio")


def test_unsigned_webhooks_beyond_loopback_are_refused(tmp_path: Path) -> None:
    [refusal] = notifier(tmp_path, notifier_http_host="0.0.0.0")
    assert refusal.startswith("CLINIC_TWILIO_AUTH_TOKEN is empty while the notifier listens on")
    assert notifier(tmp_path, notifier_http_host="0.0.0.0", twilio_auth_token="t" * 32) == []


@pytest.mark.parametrize(
    ("field", "value", "variable"),
    [
        ("twilio_auth_token", "change-me", "CLINIC_TWILIO_AUTH_TOKEN"),
        ("twilio_account_sid", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "CLINIC_TWILIO_ACCOUNT_SID"),
        ("smtp_password", "change-me", "CLINIC_SMTP_PASSWORD"),
    ],
)
def test_a_notifier_secret_left_at_its_example_is_refused(
    tmp_path: Path, field: str, value: str, variable: str
) -> None:
    found = notifier(tmp_path, **{field: value})
    assert any(f.startswith(f"{variable} is still the example value {value!r}") for f in found)


def test_the_worker_token_must_be_long_and_not_the_example(tmp_path: Path) -> None:
    short = ReminderSettings(var_dir=tmp_path, worker_web_token=SecretStr("w" * 12)).refusals()
    assert short == [
        "CLINIC_WORKER_WEB_TOKEN has 12 characters; at least 32 are needed "
        "(e.g. `openssl rand -hex 32`)"
    ]
    example = OpsSettings(var_dir=tmp_path, worker_web_token=SecretStr("change-me")).refusals()
    assert example and example[0].startswith("CLINIC_WORKER_WEB_TOKEN is still the example value")


def test_a_refused_start_prints_one_line_for_each_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLINIC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CLINIC_BOOKING_HOST", "0.0.0.0")
    with pytest.raises(SystemExit) as stopped:
        load_settings(BookingSettings)
    assert stopped.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("refusing to start: CLINIC_BOOKING_API_KEYS")


def test_what_counts_as_loopback_and_as_an_example() -> None:
    assert on_loopback("127.0.0.1") and on_loopback("::1") and on_loopback("localhost")
    assert not on_loopback("0.0.0.0") and not on_loopback("clinic.example")
    assert is_example("change-me") and is_example("CHANGE-ME") and is_example("ACxxxxxxxxxx")
    assert not is_example("9f86d081884c7d659a2feaa0c55ad015")
