"""The providers as the notifier meets them, with their own record of what they accepted.

SMS: the local Twilio-compatible server, which additionally remembers the
message sid it answered with, so each accepted request ties to one ledger row.
Email: a real aiosmtpd server that can refuse everyone for a while (421) or one
address for good (550).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from email import message_from_bytes
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from services.shared.broker import free_port
from tests.support import twilio_server
from tests.support.twilio_server import Answer, TwilioServer


@dataclass(frozen=True)
class AcceptedSms:
    """One message request the Twilio server answered 201 (the patient gets a text)."""

    to: str
    body: str
    sid: str
    at: float


class RecordingTwilio(TwilioServer):
    """:class:`TwilioServer` that also lists what it accepted, with the sid it gave."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted: list[AcceptedSms] = []
        base: Any = self._server.RequestHandlerClass
        accepted = self.accepted

        class Recording(base):
            def _answer(self, answer: Answer, sid: str, form: dict[str, str]) -> None:
                if answer.status != 201:
                    super()._answer(answer, sid, form)
                    return
                message = twilio_server._message(sid, form)
                accepted.append(
                    AcceptedSms(
                        form.get("To", ""), form.get("Body", ""), str(message["sid"]), time.time()
                    )
                )
                self._reply(201, message)

        self._server.RequestHandlerClass = Recording

    def __enter__(self) -> RecordingTwilio:
        super().__enter__()
        return self

    def burst(self, *answers: Answer) -> None:
        """The next requests get these answers, in order (then 201 again)."""
        self.answer_next(*answers)

    def clear_answers(self) -> None:
        with self._state.lock:
            self._state.answers.clear()


@dataclass(frozen=True)
class ReceivedEmail:
    to: tuple[str, ...]
    message_id: str
    subject: str
    at: float


class Mailbox:
    """aiosmtpd handler: keeps each message, or answers as told."""

    def __init__(self) -> None:
        self.received: list[ReceivedEmail] = []
        self.refuse_everyone: str | None = None
        self.refuse: dict[str, str] = {}
        self.refusals = 0
        self._lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        answer = self.refuse_everyone or self.refuse.get(address)
        if answer:
            with self._lock:
                self.refusals += 1
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.content or b""
        message = message_from_bytes(raw if isinstance(raw, bytes) else raw.encode())
        email = ReceivedEmail(
            tuple(envelope.rcpt_tos),
            str(message["Message-ID"]),
            str(message["Subject"]),
            time.time(),
        )
        with self._lock:
            self.received.append(email)
        return "250 Message accepted"


class SmtpServer:
    """A real SMTP server on a free loopback port."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.port = free_port()
        self._controller = Controller(
            mailbox, hostname="127.0.0.1", port=self.port, server_hostname="localhost"
        )

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
