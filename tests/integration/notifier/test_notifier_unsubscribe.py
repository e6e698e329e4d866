"""One-click unsubscribe end to end: the real broker, the SMTP sender to aiosmtpd, the
notifier's HTTP app on loopback. The link in the email's headers stops the next email,
and only email."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.notifier.bootstrap import notifier
from services.notifier.http.server import HttpServer, address_of, listen
from services.notifier.patients.unsubscribe import UnsubscribeLinks
from services.notifier.senders.smtp_email import SmtpEmailSender
from services.notifier.settings import NotifierSettings
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock
from services.shared.events import (
    Channel,
    ConsentChanged,
    DeliveryState,
    NotificationStatus,
    decode,
    encode,
)
from services.shared.topics import Topics
from tests.support.kafka import TopicReader, assigned_consumer, produce
from tests.support.notifier_loop import sms_lines
from tests.support.reminders import reminder
from tests.support.smtp_server import Mailbox, serve

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
JANE = "jane@example.com"


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> Iterator[int]:
    yield from serve(mailbox)


def test_the_smtp_sender_sends_the_headers_on_one_line_each(
    mailbox: Mailbox, smtp_port: int
) -> None:
    headers = UnsubscribeLinks(b"k" * 32, "https://notify.clinic.example").headers(
        "dr-jenny", "jane.with.a.rather.long.address@example.com"
    )
    SmtpEmailSender("127.0.0.1", smtp_port, "r@x.example", local_hostname="localhost").send(
        JANE, "Hello", "Text\n", None, reminder(), headers
    )
    [(_, message)] = mailbox.messages
    assert {name: message[name] for name in headers} == headers
    assert len(headers["List-Unsubscribe"]) > 78  # past where the default policy folds


def test_one_click_unsubscribe_stops_the_next_email_and_only_email(
    broker: EmbeddedBroker,
    topics: Topics,
    group_id: str,
    tmp_path: Path,
    mailbox: Mailbox,
    smtp_port: int,
) -> None:
    settings = NotifierSettings(
        bootstrap_servers=broker.bootstrap,
        topic_prefix=topics.prefix,
        consumer_group=group_id,
        var_dir=tmp_path / "var",
        default_quiet_hours="",
        email_provider="smtp",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        smtp_from_address="Dr Jenny <reminders@dr-jenny.example>",
    )
    statuses = TopicReader(settings.bootstrap_servers, settings.topics.status)
    consent = TopicReader(settings.bootstrap_servers, settings.topics.consent)
    stop = threading.Event()
    consumer = assigned_consumer(
        settings.bootstrap_servers, settings.topics.due, settings.consumer_group
    )
    listening = listen("127.0.0.1", 0)
    own = address_of(listening)
    with (
        closing(listening),
        notifier(settings, ManualClock(NOW), stop, consumer, own_address=own) as built,
        HttpServer(built.app, listening=listening),
    ):
        thread = threading.Thread(target=built.run, args=(stop,), daemon=True)
        thread.start()
        try:
            first = reminder(template="treatment-reminder", channels=(Channel.EMAIL,))
            produce(settings.bootstrap_servers, settings.topics.due, first.key, encode(first))
            sent = decode(NotificationStatus, statuses.wait_for(1)[0])
            [(envelope, message)] = mailbox.messages
            url = str(message["List-Unsubscribe"]).removeprefix("<").removesuffix(">")
            one_click = httpx.post(  # as a mail client does it: no cookies, no login
                url,
                content="List-Unsubscribe=One-Click",
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=10,
            )
            change = decode(ConsentChanged, consent.wait_for(1)[0])
            second = reminder(
                reminder_id="bk-1002:treatment-reminder:1",
                booking_id="bk-1002",
                template="treatment-reminder",
                channels=(Channel.SMS, Channel.EMAIL),
            )
            produce(settings.bootstrap_servers, settings.topics.due, second.key, encode(second))
            after = [decode(NotificationStatus, raw) for raw in statuses.wait_for(3)[1:]]
        finally:
            statuses.close()
            consent.close()
            stop.set()
            thread.join(timeout=10)
    assert (sent.channel, sent.state) == (Channel.EMAIL, DeliveryState.SENT)
    assert envelope.rcpt_tos == [JANE]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url.startswith(f"{own}/v1/unsubscribe/")
    assert one_click.status_code == 200 and "You are unsubscribed" in one_click.text
    assert (change.clinic_id, change.email, change.channel, change.granted) == (
        "dr-jenny",
        JANE,
        Channel.EMAIL,
        False,
    )
    by_channel = {status.channel: status for status in after}
    email, sms = by_channel[Channel.EMAIL], by_channel[Channel.SMS]
    assert (email.reminder_id, email.state) == (second.reminder_id, DeliveryState.SKIPPED)
    assert email.reason == f"opted out of email by its unsubscribe link at {NOW.isoformat()}"
    assert (sms.reminder_id, sms.state) == (second.reminder_id, DeliveryState.SENT)
    assert [line["reminder_id"] for line in sms_lines(settings)] == [second.reminder_id]
    assert len(mailbox.messages) == 1
