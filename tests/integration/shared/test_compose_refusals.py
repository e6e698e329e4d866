"""A production start (the compose file's environment) with an unsafe setting refuses, naming it.

Each service is run with its compose command and exactly the environment the
file gives it from a deployer's ``.env``: no broker or database is needed, since
the refusal comes before anything connects or listens.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.compose import FILLED_IN, ROOT, ComposeFile, read_env_file


def refusals(tmp_path: Path, service: str, **changed: str) -> list[str]:
    env = {**read_env_file(ROOT / "deploy" / "env.example"), **FILLED_IN, **changed}
    compose = ComposeFile(env, hosts={}, data_root=tmp_path, loopback=False)
    done = subprocess.run(
        compose.command(service),
        env=compose.environment(service),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    return [line for line in done.stderr.splitlines() if line.startswith("refusing to start: ")]


@pytest.mark.parametrize(
    ("service", "variable", "value", "said"),
    [
        ("booking", "CLINIC_BOOKING_API_KEYS", '{"dr-jenny": "change-me"}',
         "CLINIC_BOOKING_API_KEYS: the key of clinic 'dr-jenny' has 9 characters"),
        ("booking", "CLINIC_BOOKING_API_KEYS", '{"dr-jenny": "' + "k" * 20 + '"}',
         "CLINIC_BOOKING_API_KEYS: the key of clinic 'dr-jenny' has 20 characters"),
        ("booking", "CLINIC_BOOKING_API_KEYS", "{}",
         "CLINIC_BOOKING_API_KEYS is empty while the booking API listens on 0.0.0.0"),
        ("notifier", "CLINIC_TWILIO_AUTH_TOKEN", "change-me",
         "CLINIC_TWILIO_AUTH_TOKEN is still the example value 'change-me'"),
        ("notifier", "CLINIC_SMTP_PASSWORD", "change-me",
         "CLINIC_SMTP_PASSWORD is still the example value 'change-me'"),
        ("notifier", "CLINIC_TWILIO_ACCOUNT_SID", "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
         "CLINIC_TWILIO_ACCOUNT_SID is still the example value"),
        ("reminders", "CLINIC_WORKER_WEB_TOKEN", "change-me",
         "CLINIC_WORKER_WEB_TOKEN has 9 characters"),
        ("ops", "CLINIC_WORKER_WEB_TOKEN", "change-me",
         "CLINIC_WORKER_WEB_TOKEN is still the example value 'change-me'"),
        ("reminders", "CLINIC_KAFKA_REMINDERS_PASSWORD", "change-me",
         "CLINIC_KAFKA_PASSWORD is still the example value 'change-me'"),
        ("notifier", "CLINIC_KAFKA_NOTIFIER_PASSWORD", "change-me",
         "CLINIC_KAFKA_PASSWORD is still the example value 'change-me'"),
    ],
)  # fmt: skip
def test_an_unsafe_setting_stops_the_service_with_one_line_naming_it(
    tmp_path: Path, service: str, variable: str, value: str, said: str
) -> None:
    found = refusals(tmp_path, service, **{variable: value})
    assert any(line.startswith(f"refusing to start: {said}") for line in found), found


@pytest.mark.parametrize("password", ["change-me", 'a-long-password-with-a-quote"', ""])
def test_kafka_refuses_to_start_with_an_example_or_unsafe_administrator_password(
    tmp_path: Path, password: str
) -> None:
    """deploy/kafka/start.sh, as the compose file runs it, before it formats anything."""
    done = subprocess.run(
        ["bash", str(ROOT / "deploy" / "kafka" / "start.sh")],
        env={"PATH": "/usr/bin:/bin", "KAFKA_ADMIN_PASSWORD": password,
             "KAFKA_HOME": str(tmp_path / "nowhere"), "KAFKA_DATA": str(tmp_path)},
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "CLINIC_KAFKA_ADMIN_PASSWORD" in done.stderr
    assert list(tmp_path.iterdir()) == []
