"""The SMTP sender against real aiosmtpd servers: one that accepts, one with 421, one with 550."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from services.notifier.exceptions import PermanentSendError, RetryableSendError
from services.notifier.senders.smtp_email import SmtpEmailSender
from services.shared.broker import free_port
from tests.support.reminders import reminder
from tests.support.smtp_server import Mailbox, serve

pytestmark = pytest.mark.integration


def only_clinic(
    server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"clinic"
        and (auth_data.password == b"s3cret")
    )
    return AuthResult(success=ok)


@pytest.fixture
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture
def port(mailbox: Mailbox) -> Iterator[int]:
    yield from serve(mailbox, authenticator=only_clinic, auth_require_tls=False, auth_required=True)


def sender(port: int, **options: Any) -> SmtpEmailSender:
    return SmtpEmailSender(
        "127.0.0.1",
        port,
        "Dr Jenny <reminders@dr-jenny.example>",
        username="clinic",
        password="s3cret",
        timeout=5,
        local_hostname="localhost",
        **options,
    )


def test_a_multipart_email_arrives_with_text_and_html(mailbox: Mailbox, port: int) -> None:
    result = sender(port).send(
        "jane@example.com",
        "Your treatment on Tuesday",
        "Dear Jane,\n",
        "<p>Dear Jane,</p>",
        reminder(),
    )
    [(envelope, message)] = mailbox.messages
    assert envelope.rcpt_tos == ["jane@example.com"]
    assert message["Subject"] == "Your treatment on Tuesday"
    assert message["Message-ID"] == "<bk-1001.pre-treatment-24h.1.email@clinic-reminders>"
    assert result.provider_id == message["Message-ID"]
    parts = {
        part.get_content_type(): bytes(part.get_payload(decode=True)).replace(b"\r\n", b"\n")
        for part in message.walk()
        if not part.is_multipart()
    }
    assert parts == {"text/plain": b"Dear Jane,\n", "text/html": b"<p>Dear Jane,</p>\n"}


def test_421_is_retryable() -> None:
    for port in serve(Mailbox(refuse_data="421 Service not available, try later")):
        with pytest.raises(RetryableSendError, match="SMTP 421"):
            SmtpEmailSender(
                "127.0.0.1", port, "r@x.example", timeout=5, local_hostname="localhost"
            ).send("jane@example.com", "S", "T", None, reminder())


def test_550_is_permanent() -> None:
    for port in serve(Mailbox(refuse_rcpt="550 No such user here")):
        with pytest.raises(PermanentSendError, match="SMTP 550: No such user here"):
            SmtpEmailSender(
                "127.0.0.1", port, "r@x.example", timeout=5, local_hostname="localhost"
            ).send("jane@example.com", "S", "T", None, reminder())


def test_no_server_is_retryable() -> None:
    with pytest.raises(RetryableSendError):
        SmtpEmailSender(
            "127.0.0.1", free_port(), "r@x.example", timeout=2, local_hostname="localhost"
        ).send("jane@example.com", "S", "T", None, reminder())


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost, made by openssl for this test."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class TlsSeen(Mailbox):
    """Also notes whether each message came over TLS."""

    def __init__(self) -> None:
        super().__init__()
        self.over_tls: list[bool] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.over_tls.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)


def test_starttls_is_used_and_the_password_only_goes_over_it(
    certificate: tuple[Path, Path],
) -> None:
    cert, key = certificate
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    mailbox = TlsSeen()
    for port in serve(
        mailbox,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=only_clinic,
        auth_require_tls=True,
        auth_required=True,
    ):
        sender(port, ca_file=cert).send("jane@example.com", "Hello", "Text", None, reminder())
        with pytest.raises(RetryableSendError, match="CERTIFICATE_VERIFY_FAILED"):
            sender(port).send("jane@example.com", "Hello", "Text", None, reminder())
    assert mailbox.over_tls == [True]
    assert mailbox.messages[0][1]["Subject"] == "Hello"


def test_a_relay_that_does_not_offer_starttls_gets_no_login_and_no_message(
    mailbox: Mailbox, port: int
) -> None:
    """Someone on the path can strip the STARTTLS offer: beyond loopback the sender stops."""
    with pytest.raises(RetryableSendError, match="did not offer STARTTLS: not logging in"):
        sender(port, clear_text=False).send("jane@example.com", "S", "T", None, reminder())
    assert mailbox.messages == []


def test_a_relay_on_loopback_without_starttls_is_used_in_clear(mailbox: Mailbox, port: int) -> None:
    sender(port).send("jane@example.com", "S", "T", None, reminder())
    assert len(mailbox.messages) == 1
