"""A real SMTP server (aiosmtpd) on loopback that keeps what it is given, for tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from services.shared.broker import free_port


class Mailbox:
    """Keeps what it is given, or refuses with the answer it was told to give."""

    def __init__(self, refuse_rcpt: str | None = None, refuse_data: str | None = None) -> None:
        self.refuse_rcpt = refuse_rcpt
        self.refuse_data = refuse_data
        self.messages: list[tuple[Envelope, Message]] = []
        self.received_at: list[float] = []
        """When each message was taken (seconds since the epoch), in order."""

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refuse_data:
            return self.refuse_data
        raw = envelope.content or b""
        raw = raw if isinstance(raw, bytes) else raw.encode()
        self.messages.append((envelope, message_from_bytes(raw)))
        self.received_at.append(time.time())
        return "250 Message accepted"


def serve(mailbox: Mailbox, **options: Any) -> Iterator[int]:
    """Serve ``mailbox`` on a free port (yielded) until the generator is closed."""
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **options
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
