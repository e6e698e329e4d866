"""One contract for every sender: the local sinks keep it as the real Twilio and SMTP ones do.

Each sender is tried against what it talks to: the local sinks against their
files, the twilio client against the local Twilio-compatible server, the SMTP
sender against aiosmtpd. Every one must hand the message over whole (the
recipient, the words, accents and emoji), name it with an id of its own, and
answer "try again later" (RetryableSendError) when what it talks to is gone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.notifier.exceptions import RetryableSendError
from services.notifier.senders.base import SendResult
from services.notifier.senders.local import LocalEmailSender, LocalSmsSender
from services.notifier.senders.ratelimit import TokenBucket
from services.notifier.senders.smtp_email import SmtpEmailSender
from services.notifier.senders.twilio_sms import TwilioSmsSender, twilio_client
from services.shared.broker import free_port
from services.shared.clock import ManualClock
from services.shared.events import ReminderDue
from tests.support.notifier_loop import NOW
from tests.support.reminders import reminder
from tests.support.smtp_server import Mailbox, serve
from tests.support.twilio_server import TwilioServer

pytestmark = pytest.mark.integration

WORDS = "Bonjour Zoë, à demain 10h 👋"
SID = "AC" + "1" * 32


@dataclass
class Channel:
    """A sender, what reached the other side (recipient, text), and how to take it away."""

    send: Callable[[str, str, ReminderDue], SendResult]
    received: Callable[[], list[tuple[str, str]]]
    gone: Callable[[], Callable[[str, str], SendResult]]


def local_sms(tmp_path: Path, stack: ExitStack) -> Channel:
    sender = LocalSmsSender(tmp_path / "outbox", ManualClock(NOW), io.StringIO())

    def received() -> list[tuple[str, str]]:
        lines = (tmp_path / "outbox" / "sms.jsonl").read_text().splitlines()
        return [(x["to"], x["body"]) for x in map(json.loads, lines)]

    def gone() -> Callable[[str, str], SendResult]:
        (tmp_path / "blocked").write_text("a file where the outbox folder should be")
        broken = LocalSmsSender(tmp_path / "blocked", ManualClock(NOW), io.StringIO())
        return lambda to, text: broken.send(to, text, reminder())

    return Channel(sender.send, received, gone)


def twilio_sms(tmp_path: Path, stack: ExitStack) -> Channel:
    server = stack.enter_context(TwilioServer())

    def sender(base_url: str) -> TwilioSmsSender:
        client = twilio_client(SID, "token", base_url)
        return TwilioSmsSender(client, from_number="+447700900999", bucket=TokenBucket(100, 10))

    real = sender(server.base_url)
    return Channel(
        real.send,
        lambda: [(r.form["To"], r.form["Body"]) for r in server.requests],
        lambda: (
            lambda to, text: sender(f"http://127.0.0.1:{free_port()}").send(to, text, reminder())
        ),
    )


def local_email(tmp_path: Path, stack: ExitStack) -> Channel:
    sender = LocalEmailSender(tmp_path / "outbox", ManualClock(NOW), io.StringIO())

    def received() -> list[tuple[str, str]]:
        lines = (tmp_path / "outbox" / "email.jsonl").read_text().splitlines()
        return [(x["to"], x["body"]) for x in map(json.loads, lines)]

    def gone() -> Callable[[str, str], SendResult]:
        (tmp_path / "blocked").write_text("a file where the outbox folder should be")
        broken = LocalEmailSender(tmp_path / "blocked", ManualClock(NOW), io.StringIO())
        return lambda to, text: broken.send(to, "Subject", text, None, reminder())

    return Channel(
        lambda to, text, due: sender.send(to, "Subject", text, None, due), received, gone
    )


def smtp_email(tmp_path: Path, stack: ExitStack) -> Channel:
    mailbox = Mailbox()
    port = stack.enter_context(contextmanager(serve)(mailbox))

    def sender(at: int) -> SmtpEmailSender:
        return SmtpEmailSender(
            "127.0.0.1", at, "r@x.example", timeout=5, local_hostname="localhost"
        )

    def received() -> list[tuple[str, str]]:
        found = []
        for envelope, message in mailbox.messages:
            part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
            text = bytes(part.get_payload(decode=True)).decode(
                part.get_content_charset() or "utf-8"
            )
            found.append((envelope.rcpt_tos[0], text.rstrip("\r\n")))
        return found

    def gone() -> Callable[[str, str], SendResult]:
        return lambda to, text: sender(free_port()).send(to, "Subject", text, None, reminder())

    smtp = sender(port)
    return Channel(lambda to, text, due: smtp.send(to, "Subject", text, None, due), received, gone)


SENDERS = {
    "local sms": (local_sms, "+447700900123"),
    "twilio sms": (twilio_sms, "+447700900123"),
    "local email": (local_email, "jane@example.com"),
    "smtp email": (smtp_email, "jane@example.com"),
}


@pytest.fixture(params=sorted(SENDERS))
def channel(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Channel, str]]:
    make, to = SENDERS[request.param]
    with ExitStack() as stack:
        yield make(tmp_path, stack), to


def test_a_message_reaches_its_recipient_whole(channel: tuple[Channel, str]) -> None:
    made, to = channel
    made.send(to, WORDS, reminder())
    assert made.received() == [(to, WORDS)]


def test_each_reminder_has_an_id_of_its_own_there(channel: tuple[Channel, str]) -> None:
    made, to = channel
    first = made.send(to, "one", reminder(reminder_id="r-1"))
    second = made.send(to, "two", reminder(reminder_id="r-2"))
    assert first.provider_id and second.provider_id and first.provider_id != second.provider_id
    assert [text for _, text in made.received()] == ["one", "two"]


def test_what_it_talks_to_gone_is_a_try_again_later(channel: tuple[Channel, str]) -> None:
    made, to = channel
    with pytest.raises(RetryableSendError):
        made.gone()(to, WORDS)
