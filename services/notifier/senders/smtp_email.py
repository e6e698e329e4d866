"""Email through SMTP: STARTTLS (required beyond loopback), login when configured, multipart."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from pathlib import Path

from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
    SendError,
)
from services.notifier.senders.base import SendResult
from services.notifier.senders.ratelimit import Bucket
from services.shared.events import ReminderDue
from services.shared.safe_start import on_loopback

UNFOLDED_URLS = policy.default.clone(max_line_length=998)
"""Header lines up to RFC 5322's 998 characters. At the default 78, a long
``List-Unsubscribe`` URL has no space to fold at and is sent as RFC 2047 encoded
words, which mail clients do not read as a URL."""


class SmtpEmailSender:
    """One SMTP session per message (reminders are few; a session kept open goes stale).

    Blocks for the whole session. 4xx answers and a server that cannot be reached
    are retryable, 5xx are permanent, a connection lost after the message was
    handed over is ambiguous. The Message-ID comes from the reminder id, so a
    receiving system can tell a duplicate.
    """

    def __init__(
        self,
        host: str,
        port: int,
        from_address: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = True,
        ca_file: Path | None = None,
        timeout: float = 10.0,
        local_hostname: str | None = None,
        bucket: Bucket | None = None,
        clear_text: bool | None = None,
    ) -> None:
        """``clear_text``: whether to go on in clear when ``starttls`` is asked for but the
        relay does not offer it; by default only to a relay on loopback (elsewhere someone
        on the path can strip the offer and read the login and the message)."""
        self._clear_text = on_loopback(host) if clear_text is None else clear_text
        self._host = host
        self._port = port
        self._from = from_address
        self._username = username
        self._password = password
        self._starttls = starttls
        self._ca_file = ca_file
        self._timeout = timeout
        self._local_hostname = local_hostname
        self._bucket = bucket

    def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        reminder: ReminderDue,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        message = self._message(to, subject, text, html, reminder, headers or {})
        if self._bucket is not None:  # the relay's rate: one token per message
            self._bucket.take()
        try:
            with smtplib.SMTP(
                self._host, self._port, self._local_hostname, timeout=self._timeout
            ) as smtp:
                self._open(smtp)
                _hand_over(smtp, message)
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc.smtp_error) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            code, answer = next(iter(exc.recipients.values()))
            raise _by_code(code, answer) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise RetryableSendError(f"SMTP server {self._host}:{self._port}: {exc}") from exc
        return SendResult(provider_id=str(message["Message-ID"]))

    def _open(self, smtp: smtplib.SMTP) -> None:
        smtp.ehlo()
        if self._starttls and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context(cafile=self._ca_file))
            smtp.ehlo()
        elif self._starttls and not self._clear_text:
            raise RetryableSendError(
                f"SMTP server {self._host}:{self._port} did not offer STARTTLS: not logging in "
                "or sending in clear (CLINIC_SMTP_STARTTLS=false allows it, e.g. for a relay "
                "on a private network)"
            )
        if self._username:
            smtp.login(self._username, self._password or "")

    def _message(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        reminder: ReminderDue,
        headers: Mapping[str, str],
    ) -> EmailMessage:
        message = EmailMessage(policy=UNFOLDED_URLS)
        message["From"] = self._from
        message["To"] = to
        message["Subject"] = subject
        local = re.sub(r"[^A-Za-z0-9.-]", ".", reminder.reminder_id)
        message["Message-ID"] = f"<{local}.email@clinic-reminders>"
        for name, value in headers.items():
            message[name] = value
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
        return message


def _hand_over(smtp: smtplib.SMTP, message: EmailMessage) -> None:
    try:
        smtp.send_message(message)
    except (TimeoutError, smtplib.SMTPServerDisconnected) as exc:
        raise AmbiguousSendError(f"SMTP session lost while handing over: {exc}") from exc


def _by_code(code: int, answer: bytes | str) -> SendError:
    text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
    reason = f"SMTP {code}: {text}"
    if 400 <= code < 500:
        return RetryableSendError(reason)
    return PermanentSendError(reason)
