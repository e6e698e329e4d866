"""Every Kafka client logs in as its service when Kafka asks for it, and who may do what."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ACLOperation, ResourceType
from pydantic import SecretStr

from services.booking.sources.ingress import Refused, relayed
from services.reminders.settings import ReminderSettings
from services.reminders.worker.app import faust_credentials
from services.shared.erasure import PatientErased
from services.shared.events import encode
from services.shared.kafka_access import KafkaAccess
from services.shared.kafka_grants import clinic_grants, service_grants
from services.shared.settings import PlatformSettings
from services.shared.topics import Topics
from tests.unit.reminders.factories import START, booking, event


def test_a_plain_address_logs_in_as_nobody() -> None:
    assert KafkaAccess("127.0.0.1:9092").client_options() == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert faust_credentials(KafkaAccess("127.0.0.1:9092")) is None


def test_the_services_settings_give_every_client_their_login(tmp_path: Path) -> None:
    settings = ReminderSettings(
        var_dir=tmp_path,
        bootstrap_servers="kafka:9092",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_username="reminders",
        kafka_password=SecretStr("reminders-password-0123"),
    )
    options = settings.kafka.client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "reminders",
        "reminders-password-0123",
    )
    faust = faust_credentials(settings.kafka)
    assert faust is not None and faust.username == "reminders"
    assert faust.mechanism.value == "SCRAM-SHA-512"


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"kafka_username": "booking"}, "CLINIC_KAFKA_PASSWORD is empty"),
        ({"kafka_password": SecretStr("p" * 20)}, "CLINIC_KAFKA_USERNAME is empty"),
        (
            {"kafka_username": "booking", "kafka_password": SecretStr("change-me")},
            "CLINIC_KAFKA_PASSWORD is still the example value",
        ),
    ],
)
def test_a_login_half_given_or_left_at_its_example_is_refused(
    tmp_path: Path, given: dict[str, Any], named: str
) -> None:
    settings = PlatformSettings(var_dir=tmp_path, kafka_security_protocol="SASL_SSL", **given)
    [refusal] = settings.refusals()
    assert refusal.startswith(named)


def test_a_clinic_may_write_and_see_its_own_ingress_topic_only() -> None:
    topics = Topics("p.")
    assert {
        (g.operation, g.kind, g.name, g.prefixed) for g in clinic_grants("dr-jenny", topics)
    } == {
        (ACLOperation.WRITE, ResourceType.TOPIC, "p.clinic.ingress.dr-jenny.v1", False),
        (ACLOperation.DESCRIBE, ResourceType.TOPIC, "p.clinic.ingress.dr-jenny.v1", False),
    }
    assert {g.user for g in clinic_grants("dr-jenny", topics)} == {"clinic-dr-jenny"}
    services = service_grants("booking", topics)
    assert all(g.user == "booking" for g in services)
    assert not any(g.name.startswith("clinic-dr-jenny") for g in services)


@pytest.mark.parametrize("clinic", ["dr@jenny", ".", "..", "a/b"])
def test_a_clinic_id_no_topic_can_carry_has_no_ingress_topic(clinic: str) -> None:
    with pytest.raises(ValueError, match="cannot name a Kafka topic"):
        Topics().ingress(clinic)


def test_the_ingress_topic_names_its_clinic_and_nothing_else_does() -> None:
    topics = Topics("p.")
    assert topics.ingress_clinic(topics.ingress("dr-jenny")) == "dr-jenny"
    assert topics.ingress_clinic("p.clinic.bookings.v1") is None
    assert topics.ingress_clinic("clinic.ingress.dr-jenny.v1") is None


def test_the_relay_makes_an_event_its_topics_clinic_whatever_it_names() -> None:
    posing = event(booking(clinic_id="other-clinic"))
    made = relayed("dr-jenny", encode(posing))
    assert (made.clinic_id, made.data.clinic_id, made.key) == (
        "dr-jenny",
        "dr-jenny",
        "dr-jenny:p-42",
    )
    assert made.data.patient == posing.data.patient


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            encode(PatientErased(clinic_id="dr-jenny", patient_id="p-42", erased_at=START)),
            "patient.erased: a clinic's topic cannot erase a patient",
        ),
        (b'{"type": "booking.created"}', "not a booking event: "),
        (b"\xff not json", "not a booking event: "),
        (b"[1, 2]", "not a booking event: "),
        (b"", "not a booking event: "),
    ],
)
def test_the_relay_refuses_an_erasure_and_what_is_no_booking_event(raw: bytes, reason: str) -> None:
    with pytest.raises(Refused) as refused:
        relayed("dr-jenny", raw)
    assert str(refused.value).startswith(reason)
