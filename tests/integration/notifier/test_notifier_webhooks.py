"""The notifier's HTTP side on the real broker: STOP keeps the next text from going out,
and Twilio's status callback settles the ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.notifier.delivery.ledger import DeliveryLedger, LedgerState
from services.shared.broker import EmbeddedBroker
from services.shared.events import (
    Channel,
    ConsentChanged,
    DeliveryState,
    NotificationStatus,
    decode,
    encode,
)
from services.shared.topics import Topics
from tests.support.kafka import produce
from tests.support.notifier_http import CLINIC_NUMBER, JANE, NOW, Running, run, settings_for
from tests.support.reminders import reminder
from tests.support.twilio_server import TwilioServer

pytestmark = pytest.mark.integration
SID = "AC" + "1" * 32


@pytest.fixture
def twilio() -> Iterator[TwilioServer]:
    with TwilioServer() as server:
        yield server


@pytest.fixture
def local(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path
) -> Iterator[Running]:
    yield from run(settings_for(broker, topics, group_id, tmp_path))


def test_stop_makes_the_next_reminder_for_that_phone_a_skip(local: Running) -> None:
    consent = local.read(local.settings.topics.consent)
    statuses = local.read(local.settings.topics.status)
    try:
        form = {"From": JANE, "To": CLINIC_NUMBER, "Body": "STOP", "MessageSid": "SM" + "a" * 32}
        answer = local.post("/v1/twilio/inbound", form)
        assert answer.status_code == 200 and "<Response" in answer.text
        change = decode(ConsentChanged, consent.wait_for(1)[0])
        due = reminder(channels=(Channel.SMS,))
        produce(local.settings.bootstrap_servers, local.settings.topics.due, due.key, encode(due))
        status = decode(NotificationStatus, statuses.wait_for(1)[0])
    finally:
        consent.close()
        statuses.close()
    assert (change.phone, change.clinic_id, change.granted) == (JANE, "dr-jenny", False)
    assert (status.reminder_id, status.state) == (due.reminder_id, DeliveryState.SKIPPED)
    assert status.reason == f"opted out by SMS STOP at {NOW.isoformat()}"
    assert not (local.settings.outbox_dir / "sms.jsonl").exists()
    health = httpx.get(f"{local.address}/healthz", timeout=5).json()
    assert health == {"status": "ok", "ledger": "ok", "partitions": [0, 1, 2, 3]}
    scraped = httpx.get(f"{local.address}/metrics", timeout=5).text
    assert 'clinic_deliveries_total{channel="sms",reason="opted",state="skipped"} 1.0' in scraped
    topic = local.settings.topics.consent
    assert f'clinic_events_produced_total{{service="notifier",topic="{topic}"}} 1.0' in scraped


@pytest.fixture
def via_twilio(
    broker: EmbeddedBroker,
    topics: Topics,
    group_id: str,
    tmp_path: Path,
    database_url: str,
    twilio: TwilioServer,
) -> Iterator[Running]:
    settings = settings_for(
        broker,
        topics,
        group_id,
        tmp_path,
        notifier_database_url=database_url,
        sms_provider="twilio",
        twilio_account_sid=SID,
        twilio_from_number=CLINIC_NUMBER,
        twilio_api_base_url=twilio.base_url,
        sms_rate_per_second=100,
    )
    yield from run(settings)


def test_a_status_callback_settles_the_ledger_and_publishes_delivered(
    via_twilio: Running, twilio: TwilioServer
) -> None:
    statuses = via_twilio.read(via_twilio.settings.topics.status)
    try:
        due = reminder(channels=(Channel.SMS,))
        topic = via_twilio.settings.topics.due
        produce(via_twilio.settings.bootstrap_servers, topic, due.key, encode(due))
        sent = decode(NotificationStatus, statuses.wait_for(1)[0])
        assert sent.state is DeliveryState.SENT and sent.provider_id
        form = {"MessageSid": sent.provider_id, "MessageStatus": "delivered", "AccountSid": SID}
        answer = via_twilio.post("/v1/twilio/status", form)
        delivered = decode(NotificationStatus, statuses.wait_for(2)[1])
    finally:
        statuses.close()
    assert answer.json() == {"message_sid": sent.provider_id, "result": "updated"}
    assert [r.form["To"] for r in twilio.requests] == [JANE]
    assert (delivered.reminder_id, delivered.state, delivered.provider_id) == (
        due.reminder_id,
        DeliveryState.DELIVERED,
        sent.provider_id,
    )
    ledger = DeliveryLedger(via_twilio.settings.database_url)
    row = ledger.get(due.reminder_id, Channel.SMS)
    ledger.close()
    assert row is not None and row.state is LedgerState.DELIVERED
    latency = httpx.get(f"{via_twilio.address}/metrics", timeout=5).text
    assert 'clinic_provider_latency_seconds_count{channel="sms",provider="twilio"} 1.0' in latency
