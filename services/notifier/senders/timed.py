"""Senders that time each provider call into ``clinic_provider_latency_seconds``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from services.notifier.senders.base import EmailSender, SendResult, SmsSender
from services.shared.events import ReminderDue
from services.shared.metrics import PlatformMetrics


class TimedSmsSender:
    """Wraps an :class:`SmsSender`; times the call whether it returns or raises."""

    def __init__(self, inner: SmsSender, metrics: PlatformMetrics, provider: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._provider = provider

    def send(self, to: str, body: str, reminder: ReminderDue) -> SendResult:
        with self._metrics.time_provider("sms", self._provider):
            return self._inner.send(to, body, reminder)

    def close(self) -> None:
        close: Callable[[], None] | None = getattr(self._inner, "close", None)
        if close is not None:
            close()


class TimedEmailSender:
    """Wraps an :class:`EmailSender`; times the call whether it returns or raises."""

    def __init__(self, inner: EmailSender, metrics: PlatformMetrics, provider: str) -> None:
        self._inner = inner
        self._metrics = metrics
        self._provider = provider

    def send(
        self,
        to: str,
        subject: str,
        text: str,
        html: str | None,
        reminder: ReminderDue,
        headers: Mapping[str, str] | None = None,
    ) -> SendResult:
        with self._metrics.time_provider("email", self._provider):
            return self._inner.send(to, subject, text, html, reminder, headers)
