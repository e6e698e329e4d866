"""Failures of the notifier, each carrying what to do about it."""

from __future__ import annotations


class SendError(Exception):
    """A message could not be handed to its provider."""


class RetryableSendError(SendError):
    """Transient (timeout, 5xx, 429, SMTP 4xx): try again after ``retry_after`` seconds.

    ``retry_after`` is the provider's own hint when it gave one, else ``None``
    (the backoff policy decides).
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class PermanentSendError(SendError):
    """Never retried (invalid number, unsubscribed, SMTP 5xx): dead-lettered with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AmbiguousSendError(SendError):
    """The provider may or may not have taken the message (a timeout after sending).

    Never resent: the delivery is recorded as unknown and reported.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TemplateRenderError(Exception):
    """A template is missing or refers to something undefined: a permanent failure.

    The message names the template file and the variable at fault.
    """
