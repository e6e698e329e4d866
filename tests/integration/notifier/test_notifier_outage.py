"""Providers down for half an hour of platform time: every message due in it goes out once after.

The real twilio client against the local Twilio-compatible server answering
503, and the real SMTP sender against aiosmtpd answering 421, on the real
broker; the platform clock is moved by hand, so half an hour takes seconds.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.settings import NotifierSettings
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock, ScaledClock
from services.shared.events import Channel, ReminderDue, encode
from services.shared.topics import Topics
from tests.support.kafka import produce
from tests.support.notifier_loop import NOW, SMS, loop_running
from tests.support.processes import Service
from tests.support.providers import Mailbox, RecordingTwilio, SmtpServer
from tests.support.reminders import patient, reminder
from tests.support.twilio_server import Answer
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PATIENTS = 6
STEP = timedelta(minutes=5)
"""The longest wait between two attempts (CLINIC_BACKOFF_MAX_SECONDS): every step retries all."""


def due_for(i: int, channel: Channel) -> ReminderDue:
    return reminder(
        reminder_id=f"bk-{i}:pre-treatment-24h:1",
        booking_id=f"bk-{i}",
        patient=patient(id=f"p-{i}", phone=f"+4477009001{i:02d}", email=f"p{i}@example.com"),
        channels=(channel,),
    )


@pytest.fixture
def base(broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path) -> dict[str, Any]:
    wording = tmp_path / "templates" / "dr-jenny" / "en-GB"
    wording.mkdir(parents=True)
    (wording / "pre-treatment.sms.j2").write_text(SMS)
    (wording / "pre-treatment.subject.j2").write_text("Your treatment")
    (wording / "pre-treatment.text.j2").write_text("Dear {{ patient.first_name }},")
    return {
        "bootstrap_servers": broker.bootstrap,
        "topic_prefix": topics.prefix,
        "var_dir": tmp_path / "var",
        "consumer_group": group_id,
        "templates_dir": tmp_path / "templates",
        "backoff_base_seconds": 1.0,
        "backoff_max_seconds": STEP.total_seconds(),
    }


@pytest.fixture
def twilio() -> Iterator[RecordingTwilio]:
    with RecordingTwilio() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(Mailbox()) as server:
        yield server


def at_least(count: Callable[[], int], wanted: int) -> bool:
    return count() >= wanted


def on_twilio(base: dict[str, Any], twilio: RecordingTwilio) -> NotifierSettings:
    """The notifier's settings with the real twilio client pointed at the local server."""
    return NotifierSettings(
        **base,
        sms_provider="twilio",
        twilio_account_sid="AC" + "0" * 32,
        twilio_auth_token="outage-token",
        twilio_from_number="+447700900000",
        twilio_api_base_url=twilio.base_url,
        sms_rate_per_second=200,
        sms_burst=50,
    )


def states(settings: NotifierSettings) -> dict[str, int]:
    ledger = DeliveryLedger(settings.database_url)
    try:
        return LedgerReads(ledger.engine).count_by_state()
    finally:
        ledger.close()


def outage(
    clock: ManualClock, attempts: Callable[[], int], steps: int, settings: NotifierSettings
) -> None:
    """Move the clock ``steps`` times; after each, wait until every pending row was tried
    again and its answer recorded (the provider counts a request before the ledger has it)."""
    for _ in range(steps):
        retried = partial(at_least, attempts, attempts() + PATIENTS)
        clock.advance(STEP)
        wait_until(
            lambda: retried() and states(settings).get("pending") == PATIENTS,  # noqa: B023
            "each deferred message retried and recorded",
            20,
        )


def test_half_an_hour_of_twilio_503_sends_every_text_once_afterwards(
    base: dict[str, Any], twilio: RecordingTwilio
) -> None:
    settings = on_twilio(base, twilio)
    clock = ManualClock(NOW)
    twilio.down(Answer(503))
    with loop_running(settings, clock):
        for i in range(PATIENTS):
            due = due_for(i, Channel.SMS)
            produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
        wait_until(lambda: states(settings).get("pending") == PATIENTS, "all deferred", 20)

        # The partition is not held: an email due meanwhile goes out at once.
        mail = due_for(99, Channel.EMAIL)
        produce(settings.bootstrap_servers, settings.topics.due, mail.key, encode(mail))
        outbox = settings.outbox_dir / "email.jsonl"
        wait_until(outbox.exists, "the email due during the outage sent", 20)

        outage(clock, lambda: len(twilio.requests), 7, settings)  # 35 minutes of 503
        twilio.up()
        clock.advance(STEP)
        wait_until(lambda: states(settings).get("sent") == PATIENTS + 1, "all sent after it", 20)
        clock.advance(timedelta(hours=1))
        time.sleep(1.0)  # a few sweeps: nothing is left to try

    sent = Counter(accepted.to for accepted in twilio.accepted)
    assert sent == {f"+4477009001{i:02d}": 1 for i in range(PATIENTS)}
    assert len(twilio.requests) >= PATIENTS * 8, "tried at every step of the outage"
    assert states(settings) == {"sent": PATIENTS + 1}


def test_half_an_hour_of_smtp_421_sends_every_email_once_afterwards(
    base: dict[str, Any], smtp: SmtpServer
) -> None:
    mailbox = smtp.mailbox
    settings = NotifierSettings(
        **base,
        email_provider="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_timeout_seconds=5,
    )
    clock = ManualClock(NOW)
    mailbox.refuse_everyone = "421 Service not available, try again later"
    with loop_running(settings, clock):
        for i in range(PATIENTS):
            due = due_for(i, Channel.EMAIL)
            produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
        wait_until(lambda: states(settings).get("pending") == PATIENTS, "all deferred", 20)
        outage(clock, lambda: mailbox.refusals, 7, settings)
        mailbox.refuse_everyone = None
        clock.advance(STEP)
        wait_until(lambda: states(settings).get("sent") == PATIENTS, "all sent after it", 20)
        clock.advance(timedelta(hours=1))
        time.sleep(1.0)

    received = Counter(address for email in mailbox.received for address in email.to)
    assert received == {f"p{i}@example.com": 1 for i in range(PATIENTS)}
    assert states(settings) == {"sent": PATIENTS}


def test_an_outage_past_a_reminders_last_useful_moment_fails_it_once_with_the_reason(
    base: dict[str, Any], twilio: RecordingTwilio
) -> None:
    settings = on_twilio(base, twilio)
    clock = ManualClock(NOW)
    twilio.down(Answer(503))
    due = reminder(channels=(Channel.SMS,), stale_at=NOW + timedelta(minutes=12))
    with loop_running(settings, clock):
        produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))
        wait_until(lambda: states(settings).get("pending") == 1, "deferred", 20)
        for _ in range(4):
            clock.advance(STEP)
            time.sleep(0.7)
        wait_until(lambda: states(settings).get("failed") == 1, "given up", 20)
    twilio.up()
    ledger = DeliveryLedger(settings.database_url)
    row = ledger.get(due.reminder_id, Channel.SMS)
    ledger.close()
    assert row is not None and row.reason is not None
    assert row.reason.startswith("gave up after ")
    assert "of no use after 2026-11-30T10:12:00+00:00: Twilio 503 error 503" in row.reason
    assert twilio.accepted == []


def test_a_notifier_killed_during_the_outage_resumes_the_retries_after_its_restart(
    base: dict[str, Any],
    broker: EmbeddedBroker,
    topics: Topics,
    group_id: str,
    tmp_path: Path,
    twilio: RecordingTwilio,
) -> None:
    clock = ScaledClock(600.0, NOW)  # ten platform minutes a real second
    env = {
        **os.environ,
        **clock.environment(),
        "CLINIC_BOOTSTRAP_SERVERS": broker.bootstrap,
        "CLINIC_TOPIC_PREFIX": topics.prefix,
        "CLINIC_VAR_DIR": str(tmp_path / "var"),
        "CLINIC_CONSUMER_GROUP": group_id,
        "CLINIC_SESSION_TIMEOUT_MS": "6000",
        "CLINIC_HEARTBEAT_INTERVAL_MS": "500",
        "CLINIC_DEFAULT_QUIET_HOURS": "",
        "CLINIC_NOTIFIER_HTTP_PORT": "0",
        "CLINIC_TEMPLATES_DIR": str(base["templates_dir"]),
        "CLINIC_SMS_PROVIDER": "twilio",
        "CLINIC_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "CLINIC_TWILIO_AUTH_TOKEN": "outage-token",
        "CLINIC_TWILIO_FROM_NUMBER": "+447700900000",
        "CLINIC_TWILIO_API_BASE_URL": twilio.base_url,
        "CLINIC_SMS_RATE_PER_SECOND": "200",
        "CLINIC_SMS_BURST": "50",
    }
    settings = NotifierSettings(var_dir=tmp_path / "var")
    notifier = Service("notifier", "services.notifier", tmp_path / "notifier.log")
    twilio.down(Answer(503))
    notifier.start(env)
    try:
        notifier.wait_line("notifier ready")
        for i in range(PATIENTS):
            due = reminder(
                **{**due_for(i, Channel.SMS).model_dump(), "due_at": clock.now(), "stale_at": None}
            )
            produce(broker.bootstrap, topics.due, due.key, encode(due))
        wait_until(lambda: states(settings).get("pending") == PATIENTS, "all deferred", 30)
        wait_until(lambda: len(twilio.requests) >= 2 * PATIENTS, "retried before the kill", 20)
        wait_until(lambda: states(settings) == {"pending": PATIENTS}, "between two attempts", 20)
        notifier.kill()
        time.sleep(2.0)  # twenty platform minutes with no notifier, the provider still down
        tried = len(twilio.requests)
        notifier.start(env)
        notifier.wait_line("notifier ready")
        wait_until(lambda: len(twilio.requests) >= tried + PATIENTS, "retries resumed", 20)
        assert states(settings).keys() <= {"pending", "sending", "unknown"}
        twilio.up()
        wait_until(lambda: "pending" not in states(settings), "all tried after it", 30)
        time.sleep(1.0)
    finally:
        notifier.stop()
    # A kill in the middle of an attempt leaves it unknown (never resent: the provider
    # may have it); the wait above makes that rare. Everything else goes out once.
    final = states(settings)
    assert set(final) <= {"sent", "unknown"} and final.get("unknown", 0) <= 1, final
    sent = Counter(accepted.to for accepted in twilio.accepted)
    assert set(sent.values()) == {1} and len(sent) == final["sent"]
