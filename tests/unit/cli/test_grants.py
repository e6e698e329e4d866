"""``clinic-reminders grants`` without an administrator's login says what to set."""

from __future__ import annotations

import pytest

from services.cli import main


def test_grants_without_a_kafka_login_say_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CLINIC_KAFKA_SECURITY_PROTOCOL", raising=False)
    for which in (["clinic", "dr-jenny"], ["services"]):
        assert main(["grants", *which]) == 2
        said = capsys.readouterr().out
        assert "CLINIC_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT" in said
