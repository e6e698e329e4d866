"""The local sinks (the embedded default): a JSON line per message, and a line on stdout."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from services.notifier.exceptions import RetryableSendError
from services.notifier.senders.base import SendResult
from services.shared.clock import Clock
from services.shared.events import Channel, ReminderDue

SINK_FILES = {Channel.SMS: "sms.jsonl", Channel.EMAIL: "email.jsonl"}
"""Each local sink's file under the outbox folder."""

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _lock_of(path: Path) -> threading.Lock:
    """One lock per sink file, shared by every writer and sweeper in the process."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(path.resolve(), threading.Lock())


def keep_lines(path: Path, keep: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite the sink file with only the lines ``keep`` accepts; how many were dropped.

    A line that is not JSON is dropped too. The file is replaced whole, so a
    reader never sees half of it.
    """
    with _lock_of(path):
        if not path.exists():
            return 0
        kept: list[str] = []
        dropped = 0
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                dropped += 1
                continue
            if isinstance(record, dict) and keep(record):
                kept.append(line)
            else:
                dropped += 1
        if dropped:
            fresh = path.with_suffix(".rewrite")
            fresh.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            os.replace(fresh, path)
        return dropped


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
        with _lock_of(self._path):
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                with self._path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
            except OSError as exc:  # a full disk or a folder gone: like a provider down
                raise RetryableSendError(f"local sink {self._path}: {exc.strerror or exc}") from exc
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
        self._outbox = JsonlOutbox(outbox_dir / SINK_FILES[Channel.SMS], clock, echo)

    def send(self, to: str, body: str, reminder: ReminderDue) -> SendResult:
        return self._outbox.append(reminder, Channel.SMS, to, body, {})


class LocalEmailSender:
    """The email sender of the embedded default: writes ``{outbox}/email.jsonl``."""

    def __init__(self, outbox_dir: Path, clock: Clock, echo: TextIO | None = None) -> None:
        self._outbox = JsonlOutbox(outbox_dir / SINK_FILES[Channel.EMAIL], clock, echo)

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
