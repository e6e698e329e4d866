"""Clinic callbacks: each queued event POSTed to its clinic's ``callback_url``, signed, retried.

The body is the event's JSON as it is on ``clinic.bookings.v1``. Headers:
``X-Clinic-Event`` (its type), ``X-Clinic-Delivery`` (its event id: the same on
every try, so a receiver can drop a repeat), ``X-Clinic-Timestamp`` (Unix
seconds) and ``X-Clinic-Signature: sha256=<hex>``, the HMAC-SHA256 with the
clinic's ``callback_secret`` of ``"{timestamp}.{body}"``.

A 2xx answer delivers it; another 4xx (not 408 or 429) is a refusal, not tried
again; anything else (5xx, 408, 429, a timeout, no connection) is tried again
with capped exponential backoff until :data:`MAX_ATTEMPTS`. One thread sends,
beside the API and the relay, so a slow or broken clinic endpoint holds up only
callbacks (each try gives up after ``timeout_seconds``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import urllib.error
import urllib.request
from datetime import timedelta

from services.booking.store.callback_queue import CallbackQueue, PendingCallback
from services.shared.background import Background
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.clock import Clock
from services.shared.outbound import opener

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 24
"""About a day of tries with the backoff below (10 s doubling, at most an hour apart)."""
FIRST_WAIT = timedelta(seconds=10)
LONGEST_WAIT = timedelta(hours=1)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Clinic-Signature`` of ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    signed = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class Retry(Exception):
    """A try that may succeed later (5xx, 408, 429, no answer)."""


class CallbackSender(Background):
    """Sends due callbacks from a thread (:meth:`start`), or one pass (:meth:`send_due`)."""

    name = "clinic-callbacks"

    def __init__(
        self,
        queue: CallbackQueue,
        clinics: ClinicDirectory,
        clock: Clock,
        poll_seconds: float = 1.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._queue = queue
        self._clinics = clinics
        self._clock = clock
        self._poll = poll_seconds
        self._timeout = timeout_seconds
        super().__init__()

    def send_due(self) -> int:
        """Try every callback due now, once; return how many were tried.

        Database errors propagate; an endpoint's errors never do.
        """
        due = self._queue.due(self._clock.now())
        for callback in due:
            if self.stopping.is_set():
                break
            self._try(callback)
        return len(due)

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.send_due()
            except Exception:  # the database, or a fault of ours: said, and tried again
                log.exception("clinic callbacks could not be read or marked; again shortly")
            self.stopping.wait(self._poll)

    def _try(self, callback: PendingCallback) -> None:
        clinic = self._clinics.get(callback.clinic_id)
        now = self._clock.now()
        if clinic.callback_url is None or clinic.callback_secret is None:
            self._queue.done(callback, now, "dropped: the clinic has no callback_url any more")
            return
        try:
            status = self._post(clinic, callback)
        except Retry as exc:
            self._again(callback, str(exc))
            return
        outcome = f"delivered: HTTP {status}" if status < 300 else f"refused: HTTP {status}"
        if status >= 300:
            log.warning("clinic %s refused callback %s", callback.clinic_id, callback.event_id)
        self._queue.done(callback, now, outcome)

    def _post(self, clinic: ClinicInfo, callback: PendingCallback) -> int:
        assert clinic.callback_url is not None and clinic.callback_secret is not None
        stamp = int(self._clock.now().timestamp())
        event_type = json.loads(callback.payload).get("type", "")
        request = urllib.request.Request(
            str(clinic.callback_url),
            data=callback.payload,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "clinic-reminders-callbacks/1",
                "X-Clinic-Event": event_type,
                "X-Clinic-Delivery": callback.event_id,
                "X-Clinic-Timestamp": str(stamp),
                "X-Clinic-Signature": signature(
                    clinic.callback_secret.get_secret_value(), stamp, callback.payload
                ),
            },
        )
        try:
            # Never to a redirect's address: it would get the signed event.
            with opener(follow_redirects=False).open(request, timeout=self._timeout) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code in (408, 429):
                raise Retry(f"HTTP {exc.code}") from exc
            return int(exc.code)
        except (urllib.error.URLError, OSError) as exc:
            raise Retry(f"no answer: {exc}") from exc

    def _again(self, callback: PendingCallback, why: str) -> None:
        now = self._clock.now()
        if callback.attempts + 1 >= MAX_ATTEMPTS:
            log.warning("callback %s given up after %d tries", callback.event_id, MAX_ATTEMPTS)
            self._queue.done(callback, now, f"given up after {MAX_ATTEMPTS} tries: {why}")
            return
        wait = min(FIRST_WAIT * 2**callback.attempts, LONGEST_WAIT)
        jitter = wait * random.uniform(0, 0.2)  # spreads the retries of many callbacks
        self._queue.later(callback, now + wait + jitter, f"try {callback.attempts + 1}: {why}")
