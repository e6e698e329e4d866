"""The local sinks (the embedded default): a JSON line per message, and a line on stdout.

The line on stdout names the channel, the masked address, the milestone and the
booking, never the text: the console and its logs keep no patient's name or
words. An erasure rewrites the files without the patient's lines (:func:`erase_lines`).
"""

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
from services.shared.database import private_file
from services.shared.events import Channel, ReminderDue

SINK_FILES = {Channel.SMS: "sms.jsonl", Channel.EMAIL: "email.jsonl"}
"""Each local sink's file under the outbox folder."""

_LOCKS: dict[Path, threading.Lock] = {}
_LOCKS_LOCK = threading.Lock()


def _lock_of(path: Path) -> threading.Lock:
    """One lock per sink file, shared by every writer and sweeper in the process."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(path.resolve(), threading.Lock())


def sink_line(
    reminder: ReminderDue, channel: Channel, to: str, body: str, extra: dict[str, Any],
    sent_at: str,
) -> str:  # fmt: skip
    """One message as a line of its sink's file (see :class:`JsonlOutbox`)."""
    record = {
        "reminder_id": reminder.reminder_id,
        "clinic_id": reminder.clinic_id,
        "booking_id": reminder.booking_id,
        "milestone": reminder.milestone,
        "channel": channel.value,
        "to": to,
        "body": body,
        **extra,
        "sent_at": sent_at,
    }
    return json.dumps(record, ensure_ascii=False) + "\n"


class JsonlOutbox:
    """Appends one JSON object per line to a file, and prints a readable summary.

    Each line has ``reminder_id, clinic_id, booking_id, milestone, channel, to,
    body, sent_at`` (and ``subject``, ``html`` and ``headers`` for email); the
    write is flushed before :meth:`append` returns.
    """

    def __init__(self, path: Path, clock: Clock, echo: TextIO | None = None) -> None:
        self._path = path
        self._clock = clock
        self._echo = echo if echo is not None else sys.stdout
        self._lock = _lock_of(path)

    def append(
        self, reminder: ReminderDue, channel: Channel, to: str, body: str, extra: dict[str, Any]
    ) -> SendResult:
        line = sink_line(reminder, channel, to, body, extra, self._clock.now().isoformat())
        with self._lock:
            try:
                self._write(line)
            except OSError as exc:  # a full disk or a folder gone: like a provider down
                raise RetryableSendError(f"local sink {self._path}: {exc.strerror or exc}") from exc
            print(
                summary(channel, to, reminder.milestone, reminder.booking_id),
                file=self._echo,
                flush=True,
            )
        return SendResult(provider_id=f"local-{channel.value}-{reminder.reminder_id}")

    def _write(self, line: str) -> None:
        if not self._path.exists():  # the first message, or the folder was removed
            private_file(self._path)
        with self._path.open("a", encoding="utf-8") as out:
            out.write(line)


def summary(channel: Channel, to: str, milestone: str, booking_id: str) -> str:
    """``SMS   -> +4477...123  [aftercare-day-3] booking bk-1001`` on one line."""
    return f"{channel.value.upper():<5} -> {mask(to)}  [{milestone}] booking {booking_id}"


def mask(address: str) -> str:
    """Enough of a phone number or address to recognise it, not to copy it."""
    if address.startswith("+") and len(address) > 8:
        return f"{address[:5]}...{address[-3:]}"
    local, at, domain = address.partition("@")
    return f"{local[:1]}***@{domain}" if at else address


def erase_lines(path: Path, drop: Callable[[dict[str, Any]], bool]) -> int:
    """Rewrite a sink file without the lines ``drop`` picks; return how many went.

    The new file replaces the old one whole (written aside, then renamed), with
    appends held meanwhile; a line that is not JSON is kept as it is.
    """
    with _lock_of(path):
        if not path.exists():
            return 0
        kept, dropped = [], 0
        for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
            if _dropped(line, drop):
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            aside = path.with_name(f"{path.name}.erasing")
            private_file(aside)
            aside.write_text("".join(kept), encoding="utf-8")
            os.replace(aside, path)
        return dropped


def _dropped(line: str, drop: Callable[[dict[str, Any]], bool]) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and drop(record)


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
