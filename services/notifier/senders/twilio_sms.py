"""SMS through Twilio, with each failure turned into what to do about it."""

from __future__ import annotations

import threading
from typing import Any

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
)
from services.notifier.ratelimit import TokenBucket
from services.notifier.segments import count_segments
from services.notifier.senders.base import SendResult
from services.shared.events import ReminderDue


class _HeaderKeepingHttpClient(TwilioHttpClient):
    """Keeps the last answer's Retry-After: the twilio exception does not carry it.

    Kept per thread, since the notifier sends from several at once.
    """

    _last = threading.local()

    @property
    def retry_after(self) -> str | None:
        return getattr(self._last, "retry_after", None)

    def request(self, *args: Any, **kwargs: Any) -> Response:
        response = super().request(*args, **kwargs)
        self._last.retry_after = (response.headers or {}).get("Retry-After")
        return response


def twilio_client(
    account_sid: str, auth_token: str, base_url: str | None = None, timeout: float = 10.0
) -> Client:
    """A client that connects only when used; ``base_url`` points it elsewhere (tests)."""
    http = _HeaderKeepingHttpClient(timeout=timeout)
    client = Client(account_sid, auth_token, http_client=http)
    if base_url:
        client.api.base_url = base_url.rstrip("/")
    return client


class TwilioSmsSender:
    """Sends from a Messaging Service when one is given, else from a number.

    Blocks for the rate limit (one token per segment) and the HTTP call. 429 and
    5xx are retryable (429 with Twilio's Retry-After); other 4xx (21211 invalid
    number, 21610 unsubscribed, ...) are permanent; a read timeout is ambiguous.
    """

    def __init__(
        self,
        client: Client,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        bucket: TokenBucket | None = None,
    ) -> None:
        if not (from_number or messaging_service_sid):
            raise ValueError(
                "Twilio needs CLINIC_TWILIO_FROM_NUMBER or CLINIC_TWILIO_MESSAGING_SERVICE_SID"
            )
        self._client = client
        self._sender = (
            {"messaging_service_sid": messaging_service_sid}
            if messaging_service_sid
            else {"from_": from_number}
        )
        self._status_callback = status_callback
        self._bucket = bucket

    def send(self, to: str, body: str, reminder: ReminderDue) -> SendResult:
        segments = count_segments(body).segments
        if self._bucket is not None:
            self._bucket.take(segments)
        extra = {"status_callback": self._status_callback} if self._status_callback else {}
        try:
            message = self._client.messages.create(to=to, body=body, **self._sender, **extra)
        except TwilioRestException as exc:
            raise self._classify(exc) from exc
        except requests.exceptions.ReadTimeout as exc:
            raise AmbiguousSendError(f"Twilio did not answer in time: {exc}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise RetryableSendError(f"Twilio unreachable: {exc}") from exc
        return SendResult(provider_id=message.sid, segments=segments)

    def _classify(self, exc: TwilioRestException) -> Exception:
        reason = f"Twilio {exc.status} error {exc.code}: {exc.msg}"
        if exc.status == 429:
            return RetryableSendError(reason, self._retry_after())
        if exc.status >= 500:
            return RetryableSendError(reason)
        return PermanentSendError(reason)

    def _retry_after(self) -> float | None:
        raw = getattr(self._client.http_client, "retry_after", None)
        try:
            return float(raw) if raw else None
        except ValueError:
            return None
