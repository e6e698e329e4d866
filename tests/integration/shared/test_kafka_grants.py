"""Kafka as production secures it: a clinic's login writes its own ingress topic and nothing
else, the booking service relays that topic with the clinic forced, strangers get nothing.

On Apache Kafka as docker-compose.yml starts it (``secured_kafka``: SASL/SCRAM and ACLs),
the users and ACLs made by ``clinic-reminders grants`` as an administrator runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, TopicAuthorizationFailedError

from services.booking.sources.ingress import IngressRelay
from services.shared.clock import ManualClock
from services.shared.erasure import PatientErased
from services.shared.events import BookingEvent, DeadLetter, decode, encode
from services.shared.kafka_access import KafkaAccess
from services.shared.kafka_grants import SERVICE_USERS
from services.shared.topics import Topics, ensure_topics
from tests.support.compose_kafka import ComposeKafka
from tests.support.kafka import TopicReader, produce
from tests.unit.reminders.factories import START, booking, event

pytestmark = pytest.mark.integration

SERVICE_PASSWORDS = {
    f"CLINIC_KAFKA_{u.upper()}_PASSWORD": f"{u}-password-0123456789" for u in SERVICE_USERS
}


@dataclass(frozen=True)
class Granted:
    """A secured cluster with this test's topics, the services' users and two clinics'."""

    kafka: ComposeKafka
    topics: Topics
    clinics: dict[str, KafkaAccess]

    def service(self, user: str) -> KafkaAccess:
        return self.kafka.access.as_user(user, f"{user}-password-0123456789")


def grants(kafka: ComposeKafka, topics: Topics, *args: str) -> subprocess.CompletedProcess[str]:
    """``clinic-reminders grants ...`` as the administrator, with the documented settings."""
    env = {
        **os.environ,
        **SERVICE_PASSWORDS,
        "CLINIC_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "CLINIC_TOPIC_PREFIX": topics.prefix,
        "CLINIC_PARTITIONS": "4",
        "CLINIC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "CLINIC_KAFKA_USERNAME": "admin",
        "CLINIC_KAFKA_PASSWORD": kafka.admin_password,
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "grants", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def granted(secured_kafka: ComposeKafka) -> Iterator[Granted]:
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    ensure_topics(secured_kafka.access, topics.all(), partitions=4)
    done = grants(secured_kafka, topics, "services")
    assert done.returncode == 0, done.stdout + done.stderr
    clinics = {}
    for clinic in ("dr-jenny", "other-clinic"):
        made = grants(secured_kafka, topics, "clinic", clinic)
        assert made.returncode == 0, made.stdout + made.stderr
        password = made.stdout.rsplit(": ", 1)[1].strip()
        clinics[clinic] = secured_kafka.access.as_user(f"clinic-{clinic}", password)
    yield Granted(secured_kafka, topics, clinics)


def refused_write(access: KafkaAccess, topic: str) -> bool:
    producer = KafkaProducer(
        **access.client_options(), acks="all", max_block_ms=10_000, bootstrap_timeout_ms=5000
    )
    try:
        producer.send(topic, b"x").get(timeout=10)
    except TopicAuthorizationFailedError:
        return True
    finally:
        producer.close(timeout=2)
    return False


def readable(access: KafkaAccess, topic: str, seconds: float = 3.0) -> bool:
    """Whether ``access`` reads anything from partition 0 of ``topic`` within ``seconds``:
    kafka-python raises on a refused fetch, or logs it and returns nothing."""
    consumer = KafkaConsumer(**access.client_options(), enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if any(consumer.poll(timeout_ms=200).values()):
                return True
    except TopicAuthorizationFailedError:
        return False
    finally:
        consumer.close()
    return False


def test_a_clinic_writes_its_own_ingress_topic_and_is_refused_on_every_other(
    granted: Granted,
) -> None:
    jenny = granted.clinics["dr-jenny"]
    own = granted.topics.ingress("dr-jenny")
    produce(jenny, own, "dr-jenny:p-42", encode(event(booking())))
    others = [*granted.topics.all(), granted.topics.ingress("other-clinic")]
    assert [t for t in others if not refused_write(jenny, t)] == []
    every = [own, *others]
    admin = KafkaProducer(**granted.kafka.access.client_options(), acks="all")
    for topic in every:
        admin.send(topic, b"something to read", partition=0)
    admin.close()
    with ThreadPoolExecutor(len(every)) as pool:
        admin_reads = list(pool.map(lambda t: readable(granted.kafka.access, t, 30.0), every))
        jenny_reads = list(pool.map(lambda t: readable(jenny, t), every))
    assert [t for t, read in zip(every, admin_reads, strict=True) if not read] == []
    assert [t for t, read in zip(every, jenny_reads, strict=True) if read] == []


def test_a_wrong_password_and_a_user_with_no_grants_reach_nothing(granted: Granted) -> None:
    stranger = granted.kafka.access.as_user("clinic-dr-jenny", "not-the-password-at-all")
    with pytest.raises(KafkaError):
        refused_write(stranger, granted.topics.ingress("dr-jenny"))
    made = grants(granted.kafka, granted.topics, "clinic", "new-clinic")
    assert made.returncode == 0, made.stderr
    # A new clinic's topic is its own, not the clinics' that came before.
    assert refused_write(granted.clinics["other-clinic"], granted.topics.ingress("new-clinic"))
    assert not refused_write(granted.kafka.access, granted.topics.bookings)  # the super user


def test_the_booking_relay_forces_the_clinic_and_refuses_an_erasure(granted: Granted) -> None:
    topics = granted.topics
    bookings = TopicReader(granted.service("booking"), topics.bookings)
    letters = TopicReader(granted.service("booking"), topics.bookings_dlq)
    relay = IngressRelay(granted.service("booking"), topics, f"clinic-g-{uuid.uuid4().hex[:8]}",
                         ManualClock(START))  # fmt: skip
    relay.start()
    try:
        jenny = granted.clinics["dr-jenny"]
        own = topics.ingress("dr-jenny")
        posing = event(booking(clinic_id="other-clinic", booking_id="bk-theirs"))
        produce(jenny, own, "other-clinic:p-42", encode(posing))
        erasure = PatientErased(clinic_id="dr-jenny", patient_id="p-42", erased_at=START)
        produce(jenny, own, "dr-jenny:p-42", encode(erasure))
        produce(jenny, own, None, b'{"type": "booking.created"}')
        [relayed] = [decode(BookingEvent, v) for v in bookings.wait_for(1)]
        assert (relayed.clinic_id, relayed.data.clinic_id) == ("dr-jenny", "dr-jenny")
        assert relayed.key == "dr-jenny:p-42"
        refused = [decode(DeadLetter, v) for v in letters.wait_for(2)]
        assert [r.topic for r in refused] == [own, own]
        # Keyed and keyless records land on different partitions: their order is not kept.
        by_type = {json.loads(r.payload)["type"]: r.reason for r in refused}
        erased, unreadable = by_type["patient.erased"], by_type["booking.created"]
        assert "patient.erased" in erased and "booking API" in erased
        assert "not a booking event" in unreadable
    finally:
        relay.stop()
        bookings.close()
        letters.close()


def test_grants_refuse_a_clinic_id_no_topic_can_carry_and_missing_service_passwords(
    secured_kafka: ComposeKafka,
) -> None:
    topics = Topics(prefix=f"t{uuid.uuid4().hex[:10]}.")
    odd = grants(secured_kafka, topics, "clinic", "dr@jenny")
    assert odd.returncode == 2 and "cannot name a Kafka topic" in odd.stdout
    admin_only = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_KAFKA")}
    admin_only |= {"CLINIC_BOOTSTRAP_SERVERS": secured_kafka.bootstrap,
                   "CLINIC_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                   "CLINIC_KAFKA_USERNAME": "admin",
                   "CLINIC_KAFKA_PASSWORD": secured_kafka.admin_password}  # fmt: skip
    env_less = subprocess.run(
        [sys.executable, "-m", "services.cli", "grants", "services"],
        env=admin_only, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert env_less.returncode == 2
    assert "CLINIC_KAFKA_BOOKING_PASSWORD must be set" in env_less.stdout
