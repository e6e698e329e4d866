"""docker-compose.yml is checked here, since no Docker engine runs on these machines."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from services.booking.settings import BookingSettings
from services.notifier.settings import NotifierSettings
from services.ops.web.settings import OpsWebSettings
from services.reminders.settings import ReminderSettings

ROOT = Path(__file__).resolve().parents[2]
PROCESS_WIDE = {
    "CLINIC_LOG_FORMAT",
    "CLINIC_LOG_LEVEL",
    "CLINIC_TIME_SCALE",
    "CLINIC_CLOCK_START",
    "CLINIC_CLOCK_ANCHOR",
}
"""Read by every process outside its settings class (logging and the shared clock)."""
SETTINGS: dict[str, type[BaseSettings]] = {
    "booking": BookingSettings,
    "reminders": ReminderSettings,
    "notifier": NotifierSettings,
    "ops": OpsWebSettings,
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def env_names(settings: type[BaseSettings]) -> set[str]:
    return {f"CLINIC_{name.upper()}" for name in settings.model_fields} | PROCESS_WIDE


def test_every_part_of_the_platform_is_there_with_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {
        "kafka",
        "postgres",
        "booking",
        "reminders",
        "notifier",
        "ops",
        "prometheus",
    }
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("image") or service.get("build"), f"{name} has no image"


def test_kafka_runs_in_kraft_mode_without_auto_created_topics(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    assert compose["services"]["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "ZOOKEEPER" not in " ".join(env)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_each_service_runs_a_real_module_with_known_settings(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    module = service["command"][-1]
    assert service["command"][:2] == ["python", "-m"]
    assert importlib.util.find_spec(f"{module}.__main__") is not None, module
    env = service["environment"]
    unknown = {k for k in env if k.startswith("CLINIC_")} - env_names(SETTINGS[name])
    assert not unknown, f"{name} sets variables no setting reads: {unknown}"
    assert env["CLINIC_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert env["CLINIC_ON_TANSU"] == "false"


def test_secrets_come_from_the_env_file_and_every_one_is_named_in_the_example(
    compose: dict[str, Any],
) -> None:
    example = (ROOT / "deploy" / "env.example").read_text()
    named = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    text = (ROOT / "docker-compose.yml").read_text()
    for variable in re.findall(r"\$\{([A-Z_]+)(?::[?-][^}]*)?\}", text):
        assert variable in named, f"{variable} is used but not in deploy/env.example"
    every = set().union(*(env_names(s) for s in SETTINGS.values()))
    assert {n for n in named if n.startswith("CLINIC_")} <= every
    inline = re.search(r"^\s*[A-Z_]*(PASSWORD|TOKEN)\s*:\s*[^$\s]", text, re.MULTILINE)
    assert not inline, "a secret is written inline"


def test_each_service_is_given_its_own_secrets_and_no_one_elses(compose: dict[str, Any]) -> None:
    """No ``env_file`` hands a service the whole .env: each names what it reads."""
    for name, service in compose["services"].items():
        assert "env_file" not in service, f"{name} loads every secret in .env"
    notifier_only = {
        "CLINIC_TWILIO_AUTH_TOKEN",
        "CLINIC_SMTP_PASSWORD",
        "CLINIC_UNSUBSCRIBE_SECRET",
    }
    for name in ("booking", "reminders", "ops"):
        given = set(compose["services"][name]["environment"])
        assert not given & notifier_only, f"{name} is given the notifier's secrets"
    assert "CLINIC_BOOKING_API_KEYS" not in compose["services"]["notifier"]["environment"]


def test_only_the_booking_api_and_the_notifiers_webhooks_are_published(
    compose: dict[str, Any],
) -> None:
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"booking", "notifier"}
    local = yaml.safe_load((ROOT / "deploy" / "compose.local-ports.yml").read_text())
    for name, service in local["services"].items():
        for port in service["ports"]:
            assert str(port).startswith("127.0.0.1:"), f"{name} published beyond loopback"
