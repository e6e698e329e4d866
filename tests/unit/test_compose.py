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
from services.shared.kafka_grants import SERVICE_USERS

ROOT = Path(__file__).resolve().parents[2]
PROCESS_WIDE = {
    "CLINIC_LOG_FORMAT",
    "CLINIC_LOG_LEVEL",
    "CLINIC_TIME_SCALE",
    "CLINIC_CLOCK_START",
    "CLINIC_CLOCK_ANCHOR",
}
"""Read by every process outside its settings class (logging and the shared clock)."""
GRANTS = {f"CLINIC_KAFKA_{name.upper()}_PASSWORD" for name in ("admin", *SERVICE_USERS)}
"""Read by kafka-grants (``clinic-reminders grants services``), and the admin's by Kafka."""
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
        assert service.get("image") or service.get("build"), f"{name} has no image"
        if service.get("restart") == "no":  # a step that runs once (kafka-grants)
            continue
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def kafka_properties() -> dict[str, str]:
    lines = (ROOT / "deploy" / "kafka" / "server.properties").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    return {key: value for key, value in pairs}


def test_kafka_runs_in_kraft_mode_without_auto_created_topics(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert (
        "./deploy/kafka/server.properties:/opt/clinic/kafka/server.properties:ro"
        in kafka["volumes"]
    )
    properties = kafka_properties()
    assert "controller" in properties["process.roles"]
    assert properties["auto.create.topics.enable"] == "false"
    assert not any("zookeeper" in key for key in properties)


def test_kafka_wants_a_login_and_grants_nothing_unasked(compose: dict[str, Any]) -> None:
    """SASL/SCRAM on the clients' listener, ACLs for all but the super users, and the
    controllers' own listener inside the container."""
    properties = kafka_properties()
    listeners = dict(u.split("://", 1) for u in properties["listeners"].split(","))
    assert set(listeners) == {"SASL_PLAINTEXT", "CONTROLLER"}
    assert listeners["CONTROLLER"].startswith("127.0.0.1:")
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["authorizer.class.name"].endswith("StandardAuthorizer")
    assert properties["super.users"] == "User:admin;User:ANONYMOUS"
    for name in SETTINGS:
        env = compose["services"][name]["environment"]
        assert env["CLINIC_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert env["CLINIC_KAFKA_USERNAME"] == name
        assert env["CLINIC_KAFKA_PASSWORD"].startswith(f"${{CLINIC_KAFKA_{name.upper()}_PASSWORD:?")
        assert compose["services"][name]["depends_on"]["kafka-grants"] == {
            "condition": "service_completed_successfully"
        }


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
    every = set().union(*(env_names(s) for s in SETTINGS.values())) | GRANTS
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
    for name, service in compose["services"].items():
        text = yaml.safe_dump(service.get("environment", {}))
        kafka_passwords = set(re.findall(r"CLINIC_KAFKA_([A-Z]+)_PASSWORD:\?", text))
        if name in SETTINGS:
            assert kafka_passwords == {name.upper()}, f"{name} has others' Kafka passwords"
        elif name == "kafka":
            assert kafka_passwords == {"ADMIN"}


def test_only_the_booking_api_and_the_notifiers_webhooks_are_published(
    compose: dict[str, Any],
) -> None:
    published = {name for name, service in compose["services"].items() if service.get("ports")}
    assert published == {"booking", "notifier"}
    local = yaml.safe_load((ROOT / "deploy" / "compose.local-ports.yml").read_text())
    for name, service in local["services"].items():
        for port in service["ports"]:
            assert str(port).startswith("127.0.0.1:"), f"{name} published beyond loopback"
