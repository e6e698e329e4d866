"""The interfaces every SMS and email sender keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from services.shared.events import ReminderDue


@dataclass(frozen=True)
class SendResult:
    """A message the provider accepted; ``provider_id`` is its id there, if any."""

    provider_id: str | None = None
    segments: int | None = None


class SmsSender(Protocol):
    """Hands one text to a provider.

    Blocks until the provider answers. Raises ``RetryableSendError`` (try
    later), ``PermanentSendError`` (never retry) or ``AmbiguousSendError`` (may
    have been sent: never resend).
    """

    def send(self, to: str, body: str, reminder: ReminderDue) -> SendResult: ...


class EmailSender(Protocol):
    """Hands one multipart email to a provider; same failures as :class:`SmsSender`.

    ``headers`` are added to the message as given (``List-Unsubscribe``, ...).
    """

    def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        reminder: ReminderDue,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult: ...
