"""docker-compose.yml rehearsed: its services as the file starts them, on Kafka and PostgreSQL.

Each service runs its compose command with exactly the environment the file
and the deployer's ``.env`` give it (deploy/env.example, filled in as
docs/deploy.md says); only the host names are mapped to the loopback servers
standing in for the containers. The file's own healthchecks must pass, and the
README's first booking must reach the patient through the providers.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import psycopg
import pytest

from services.ops.web.auth.passwords import hash_password
from services.ops.web.auth.users import Role, User, write_users
from services.shared.events import Booking, BookingEvent, BookingEventType, encode
from services.shared.kafka_access import KafkaAccess
from tests.support.compose import FILLED_IN, ROOT, ComposeFile, read_env_file
from tests.support.compose_kafka import ComposeKafka
from tests.support.kafka import produce
from tests.support.postgres import ADMIN_URL
from tests.support.processes import Service
from tests.support.providers import Mailbox, RecordingTwilio, SmtpServer

pytestmark = pytest.mark.e2e

APPLICATION = ("booking", "reminders", "notifier", "ops")
API_KEY = "k" * 40
SECRETS = {
    **FILLED_IN,
    "POSTGRES_PASSWORD": "rehearsal-postgres-password",
    "CLINIC_SMTP_PASSWORD": "",
    "CLINIC_SMTP_USERNAME": "",
    "CLINIC_BOOKING_API_KEYS": '{"dr-jenny": "' + API_KEY + '"}',
    "CLINIC_OPS_COOKIE_SECURE": "false",
}


@pytest.fixture
def database() -> Iterator[str]:
    """A database owned by the compose file's ``clinic`` user, as the postgres image makes it."""
    name = f"compose_{int(time.time() * 1000)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'clinic'").fetchone():
            conn.execute("CREATE ROLE clinic LOGIN PASSWORD 'rehearsal-postgres-password'")
        conn.execute(f'CREATE DATABASE "{name}" OWNER clinic')
    yield name
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_compose_services_pass_their_healthchecks_and_deliver_the_first_booking(
    database: str, tmp_path: Path
) -> None:
    """On the compose file's own Kafka (deploy/kafka/start.sh): every service logs in as
    its own user, with the users and ACLs kafka-grants made, and nothing else allowed."""
    postgres = ADMIN_URL.removeprefix("postgresql://").split("@", 1)[1].rsplit("/", 1)[0]
    mailbox = Mailbox()
    env = {
        **read_env_file(ROOT / "deploy" / "env.example"),
        **SECRETS,
    }
    kafka_env = ComposeFile(env, hosts={}, data_root=tmp_path).environment("kafka")
    (tmp_path / "kafka").mkdir()
    with ComposeKafka(kafka_env, tmp_path / "kafka") as kafka, RecordingTwilio() as twilio, \
            SmtpServer(mailbox) as smtp:  # fmt: skip
        env |= {"CLINIC_SMTP_HOST": "127.0.0.1", "CLINIC_SMTP_PORT": str(smtp.port)}
        compose = ComposeFile(
            env,
            hosts={"kafka:9092": kafka.bootstrap, "postgres:5432/clinic":
                   f"{postgres}/{database}"},
            data_root=tmp_path,
        )  # fmt: skip
        _healthy(_kafka_check(compose, kafka), "kafka")
        _healthy(_postgres_check(compose, postgres), "postgres")
        _granted(compose)
        users = Path(compose.environment("ops")["CLINIC_OPS_USERS_FILE"])
        write_users(users, {"admin": User("admin", Role.ADMIN, hash_password("x" * 20))})
        services = _start(compose, tmp_path, twilio.base_url)
        try:
            for name in APPLICATION:
                _healthy(compose.healthcheck(name), name, services[name])
            start = datetime.now(UTC) + timedelta(days=5)
            booked = httpx.post(
                f"http://127.0.0.1:{compose.published('booking')[0]}/v1/bookings",
                headers={"X-API-Key": API_KEY},
                json=_readme_booking(start),
                timeout=10,
            )
            assert booked.status_code == 201, booked.text
            # Due at once: the consultation fee note, by email (the rest comes days later).
            deadline = time.monotonic() + 60
            while not mailbox.received and time.monotonic() < deadline:
                time.sleep(0.2)
            sent = [m.to for m in mailbox.received]
            assert sent == [("jane@example.com",)], services["notifier"].tail()
            assert twilio.accepted == []
            # A clinic producing to Kafka directly, with the login `grants clinic` made for
            # it: its event, naming another clinic, is relayed as its own.
            clinic = _clinic_login(compose, kafka.access, "dr-jenny")
            produce(clinic, "clinic.ingress.dr-jenny.v1", None, _direct_event(start))
            while len(mailbox.received) < 2 and time.monotonic() < deadline + 60:
                time.sleep(0.2)
            assert [m.to for m in mailbox.received][1:] == [("jill@example.com",)], services[
                "booking"
            ].tail()
        finally:
            for service in services.values():
                service.stop()


def _clinic_login(compose: ComposeFile, admin: KafkaAccess, clinic_id: str) -> KafkaAccess:
    """`docker compose run --rm kafka-grants python -m services.cli grants clinic ID`."""
    done = subprocess.run(
        [*compose.command("kafka-grants")[:-1], "clinic", clinic_id],
        env=compose.environment("kafka-grants"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    password = done.stdout.rsplit(": ", 1)[1].strip()
    return KafkaAccess(admin.bootstrap).as_user(f"clinic-{clinic_id}", password)


def _direct_event(start: datetime) -> bytes:
    now = datetime.now(UTC)
    request = _readme_booking(start)
    patient = {**cast(dict[str, Any], request["patient"]),
               "id": "p-43", "first_name": "Jill", "email": "jill@example.com"}  # fmt: skip
    request |= {"clinic_id": "someone-else", "booking_id": "bk-2002", "booked_at": now,
                "patient": patient}  # fmt: skip
    made = BookingEvent(type=BookingEventType.CREATED, occurred_at=now,
                        clinic_id="someone-else", data=Booking.model_validate(request))  # fmt: skip
    return encode(made)


def _start(compose: ComposeFile, tmp_path: Path, twilio_url: str) -> dict[str, Service]:
    started: dict[str, Service] = {}
    for name in APPLICATION:
        env = compose.environment(name)
        if name == "notifier":  # the one setting production leaves to Twilio's own address
            env["CLINIC_TWILIO_API_BASE_URL"] = twilio_url
        command = compose.command(name)
        service = Service(name, command[-1], tmp_path / f"{name}.log")
        service.start(env)
        started[name] = service
    return started


def _kafka_check(compose: ComposeFile, kafka: ComposeKafka) -> list[str]:
    """The file's kafka-broker-api-versions.sh, logged in as the administrator."""
    shell = compose.service("kafka")["healthcheck"]["test"][1]
    assert "--command-config /tmp/admin.properties" in shell
    return kafka.healthcheck(shell)


def _granted(compose: ComposeFile) -> None:
    """The file's kafka-grants step, run once as compose runs it before the services."""
    done = subprocess.run(
        compose.command("kafka-grants"), env=compose.environment("kafka-grants"),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def _postgres_check(compose: ComposeFile, address: str) -> list[str]:
    """The file's pg_isready, pointed at the loopback server (the container's own socket)."""
    shell = compose.service("postgres")["healthcheck"]["test"][1]
    program, *args = shell.split()
    assert program == "pg_isready", shell
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_isready"))
    host, port = address.split(":")
    return [str(found[-1]) if found else program, "-h", host, "-p", port, *args]


def _healthy(check: list[str], name: str, service: Service | None = None) -> None:
    """Runs ``check`` as compose would, every second, until it passes (60 tries)."""
    for _ in range(60):
        if subprocess.run(check, capture_output=True, timeout=30, check=False).returncode == 0:
            return
        assert service is None or service.running, f"{name} exited:\n{service.tail()}"
        time.sleep(1)
    raise AssertionError(f"{name}: its healthcheck never passed")


def _daytime_zone() -> str:
    """A patient's time zone where it is day now: no quiet hours hold the first text back."""
    zones = ("Europe/London", "America/New_York", "America/Los_Angeles", "Pacific/Auckland",
             "Asia/Tokyo", "Asia/Kolkata", "Pacific/Honolulu")  # fmt: skip
    return next(z for z in zones if 9 <= datetime.now(ZoneInfo(z)).hour < 19)


def _readme_booking(start: datetime) -> dict[str, object]:
    return {
        "clinic_id": "dr-jenny",
        "booking_id": "bk-1001",
        "patient": {
            "id": "p-42", "first_name": "Jane", "phone": "+447700900123",
            "email": "jane@example.com", "locale": "en-GB", "timezone": _daytime_zone(),
            "consent": {"sms": True, "email": True},
        },
        "treatment": "microsclerotherapy", "kind": "treatment", "session_number": 1,
        "start": start.replace(hour=10, minute=0, second=0, microsecond=0).isoformat(),
        "duration_minutes": 45,
    }  # fmt: skip
