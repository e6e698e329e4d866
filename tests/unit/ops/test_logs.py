"""Log lines: masked always, JSON with their context when asked."""

from __future__ import annotations

import json
import logging

import pytest

from services.shared.logs import configure_logging


@pytest.fixture(autouse=True)
def restore_root() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_carry_the_ids_and_never_a_phone_or_email(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("notifier", fmt="json")
    logging.getLogger("clinic.test").info(
        "sent to %s and %s",
        "+447700900123",
        "jane@example.com",
        extra={"reminder_id": "r-1", "booking_id": "bk-1"},
    )
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["service"] == "notifier" and line["level"] == "info"
    assert line["reminder_id"] == "r-1" and line["booking_id"] == "bk-1"
    assert "+447700900123" not in line["message"] and "jane@example.com" not in line["message"]
    assert "+4477...123" in line["message"] and "j***@example.com" in line["message"]


def test_text_lines_are_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("booking", fmt="text")
    logging.getLogger("clinic.test").warning("bad number +447700900123")
    out = capsys.readouterr().out
    assert "booking: WARNING bad number +4477...123" in out


def test_an_unknown_format_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIC_LOG_FORMAT", "xml")
    with pytest.raises(SystemExit, match="CLINIC_LOG_FORMAT"):
        configure_logging("booking")


def test_the_level_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLINIC_LOG_LEVEL", "warning")
    configure_logging("reminders")
    logging.getLogger("clinic.test").info("quiet")
    logging.getLogger("clinic.test").warning("loud")
    out = capsys.readouterr().out
    assert "loud" in out and "quiet" not in out
    monkeypatch.setenv("CLINIC_LOG_LEVEL", "chatty")
    with pytest.raises(SystemExit, match="CLINIC_LOG_LEVEL"):
        configure_logging("reminders")


def test_a_traceback_in_a_text_line_is_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("booking", fmt="text")
    try:
        raise ValueError("no patient with +447700900123 or jane@example.com")
    except ValueError:
        logging.getLogger("clinic.test").exception("Exception in ASGI application")
    out = capsys.readouterr().out
    assert "Traceback" in out and "ValueError" in out
    assert "+447700900123" not in out and "jane@example.com" not in out


def test_a_value_from_outside_cannot_forge_a_line_or_flood_the_log(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("notifier", fmt="text")
    forged = "thanks\nnotifier: INFO opted out of texts\x1b[2J"
    logging.getLogger("clinic.test.replies").warning("reply: %s", forged)
    logging.getLogger("clinic.test.requests").info("GET %s", "/" + "a" * 5000)
    out = capsys.readouterr().out.splitlines()
    assert out[-2] == (
        "notifier: WARNING reply: thanks\\nnotifier: INFO opted out of texts\\x1b[2J"
    )
    assert out[-1].endswith("... (4001 more)") and len(out[-1]) < 1100
