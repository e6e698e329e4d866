"""The local sinks (the embedded default): a JSON line per message, and a line on stdout."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from services.notifier.senders.base import SendResult
from services.shared.clock import Clock
from services.shared.events import Channel, ReminderDue


class JsonlOutbox:
    """Appends one JSON object per line to a file, and prints a readable summary.

    Each line has ``reminder_id, booking_id, milestone, channel, to, body,
    sent_at`` (and ``subject``, ``html`` and ``headers`` for email); the write
    is flushed before :meth:`append` returns.
    """

    def __init__(self, path: Path, clock: Clock, echo: TextIO | None = None) -> None:
        self._path = path
        self._clock = clock
        self._echo = echo if echo is not None else sys.stdout
        self._lock = threading.Lock()

    def append(
        self, reminder: ReminderDue, channel: Channel, to: str, body: str, extra: dict[str, Any]
    ) -> SendResult:
        record = {
            "reminder_id": reminder.reminder_id,
            "booking_id": reminder.booking_id,
            "milestone": reminder.milestone,
            "channel": channel.value,
            "to": to,
            "body": body,
            **extra,
            "sent_at": self._clock.now().isoformat(),
        }
        with self._lock:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            print(
                summary(channel, to, reminder.milestone, extra.get("subject") or body),
                file=self._echo,
                flush=True,
            )
        return SendResult(provider_id=f"local-{channel.value}-{reminder.reminder_id}")


def summary(channel: Channel, to: str, milestone: str, text: str) -> str:
    """``SMS   -> +4477...123  [aftercare-day-3] Hi Jane, ...`` on one line."""
    shown = " ".join(text.split())
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return f"{channel.value.upper():<5} -> {mask(to)}  [{milestone}] {shown}"


def mask(address: str) -> str:
    """Enough of a phone number or address to recognise it, not to copy it."""
    if address.startswith("+") and len(address) > 8:
        return f"{address[:5]}...{address[-3:]}"
    return address


class LocalSmsSender:
    """The SMS sender of the embedded default: writes ``{outbox}/sms.jsonl``."""

    def __init__(self, outbox_dir: Path, clock: Clock, echo: TextIO | None = None) -> None:
        self._outbox = JsonlOutbox(outbox_dir / "sms.jsonl", clock, echo)

    def send(self, to: str, body: str, reminder: ReminderDue) -> SendResult:
        return self._outbox.append(reminder, Channel.SMS, to, body, {})


class LocalEmailSender:
    """The email sender of the embedded default: writes ``{outbox}/email.jsonl``."""

    def __init__(self, outbox_dir: Path, clock: Clock, echo: TextIO | None = None) -> None:
        self._outbox = JsonlOutbox(outbox_dir / "email.jsonl", clock, echo)

    def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        reminder: ReminderDue,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        extra = {"subject": subject, "html": html, "headers": dict(headers or {})}
        return self._outbox.append(reminder, Channel.EMAIL, to, text, extra)
