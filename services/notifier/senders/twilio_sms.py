"""SMS through Twilio, with each failure turned into what to do about it."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import urllib.parse
import urllib.request
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
)
from services.notifier.messages.segments import count_segments
from services.notifier.senders.base import SendResult
from services.notifier.senders.ratelimit import Bucket
from services.shared.events import ReminderDue

T = TypeVar("T")
_RETRY_AFTER: contextvars.ContextVar[str | None] = contextvars.ContextVar("retry_after")
"""The answer's Retry-After, per message: the twilio exception does not carry it."""


class _LimitedSession:
    """The aiohttp session with the client's time limits on every request: the twilio
    client passes ``timeout=None``, which aiohttp takes as no limit at all."""

    def __init__(self, session: aiohttp.ClientSession, timeout: float, proxy: str | None) -> None:
        self._session = session
        # Connecting and each read are bounded; so the wait for an answer is too.
        self._limits = aiohttp.ClientTimeout(sock_connect=timeout, sock_read=timeout)
        self._proxy = proxy

    def request(self, **kwargs: Any) -> Any:
        return self._session.request(**{**kwargs, "timeout": self._limits, "proxy": self._proxy})

    async def close(self) -> None:
        await self._session.close()


class _HeaderKeepingHttpClient(AsyncTwilioHttpClient):
    """Keeps each answer's Retry-After for the message it answers."""

    def __init__(self, session: _LimitedSession) -> None:
        super().__init__(pool_connections=False)
        self.session = session

    async def request(self, *args: Any, **kwargs: Any) -> Response:
        response = await super().request(*args, **kwargs)
        _RETRY_AFTER.set((response.headers or {}).get("Retry-After"))
        return response


class TwilioApi:
    """The twilio client on an event loop of its own: the notifier's threads hand it
    messages and wait, while the loop keeps every request in flight at once.

    The async client costs about a fifth of the CPU per message of the blocking
    one (docs/benchmarks.md), and that CPU is what bounds one notifier's rate.
    """

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        base_url: str | None = None,
        timeout: float = 10.0,
        connections: int = 10,
    ) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="twilio", daemon=True)
        self._thread.start()
        api = (base_url or API_URL).rstrip("/")
        opening = self._open(account_sid, auth_token, timeout, connections, _proxy_for(api))
        self._client, session = self._run(opening)
        # Closed by close(), or when the client is dropped: the session, then the loop.
        self._closer = weakref.finalize(self, _shut_down, self._loop, session)
        self._client.api.base_url = api

    async def _open(
        self, account_sid: str, auth_token: str, timeout: float, connections: int, proxy: str | None
    ) -> tuple[Client, aiohttp.ClientSession]:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections))
        http = _HeaderKeepingHttpClient(_LimitedSession(session, timeout, proxy))
        return Client(account_sid, auth_token, http_client=http), session

    def create_message(self, **fields: Any) -> tuple[str | None, str | None]:
        """POST one message; its sid, and the Retry-After of the answer if any.

        Raises what the client raises: ``TwilioRestException`` for an error answer
        (with ``retry_after`` set on it), aiohttp's errors and timeouts when no
        answer came.
        """
        return self._run(self._create(fields))

    async def _create(self, fields: dict[str, Any]) -> tuple[str | None, str | None]:
        _RETRY_AFTER.set(None)
        try:
            message = await self._client.messages.create_async(**fields)
        except TwilioRestException as exc:
            exc.retry_after = _RETRY_AFTER.get()
            raise
        return message.sid, _RETRY_AFTER.get()

    def close(self) -> None:
        """Close the connections and stop the loop."""
        self._closer()
        self._thread.join(timeout=5)

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()


API_URL = "https://api.twilio.com"


def _proxy_for(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTPS_PROXY, NO_PROXY), as any client
    would use, looked up once: aiohttp's ``trust_env`` looks it up, and reads ~/.netrc,
    on every request (5% of the notifier's time at 500 texts a second)."""
    parts = urllib.parse.urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _shut_down(loop: asyncio.AbstractEventLoop, session: aiohttp.ClientSession) -> None:
    async def close_then_stop() -> None:
        await session.close()
        loop.stop()

    if loop.is_running():
        asyncio.run_coroutine_threadsafe(close_then_stop(), loop)


def twilio_client(
    account_sid: str,
    auth_token: str,
    base_url: str | None = None,
    timeout: float = 10.0,
    connections: int = 10,
) -> TwilioApi:
    """A client that connects only when used; ``base_url`` points it elsewhere (tests).

    It keeps up to ``connections`` open to Twilio, one per message in flight.
    """
    return TwilioApi(account_sid, auth_token, base_url, timeout, connections)


class TwilioSmsSender:
    """Sends from a Messaging Service when one is given, else from a number.

    Blocks for the rate limit (one token per segment) and the HTTP call. 429 and
    5xx are retryable (429 with Twilio's Retry-After); other 4xx (21211 invalid
    number, 21610 unsubscribed, ...) are permanent; no answer in time is ambiguous
    (the message may have been taken); no connection is retryable.
    """

    def __init__(
        self,
        client: TwilioApi,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
        bucket: Bucket | None = None,
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
            sid, _ = self._client.create_message(to=to, body=body, **self._sender, **extra)
        except TwilioRestException as exc:
            raise _classify(exc) from exc
        except aiohttp.ConnectionTimeoutError as exc:  # never connected: nothing was sent
            raise RetryableSendError(f"Twilio unreachable: {exc!r}") from exc
        except TimeoutError as exc:  # asked, and no answer in time (aiohttp's read timeout too)
            raise AmbiguousSendError(f"Twilio did not answer in time: {exc!r}") from exc
        except aiohttp.ClientError as exc:
            raise RetryableSendError(f"Twilio unreachable: {exc!r}") from exc
        return SendResult(provider_id=sid, segments=segments)

    def close(self) -> None:
        self._client.close()


def _classify(exc: TwilioRestException) -> Exception:
    reason = f"Twilio {exc.status} error {exc.code}: {exc.msg}"
    if exc.status == 429:
        return RetryableSendError(reason, _seconds(getattr(exc, "retry_after", None)))
    if exc.status >= 500:
        return RetryableSendError(reason)
    return PermanentSendError(reason)


def _seconds(raw: str | None) -> float | None:
    try:
        return float(raw) if raw else None
    except ValueError:
        return None
