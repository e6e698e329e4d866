"""The reminders worker's booking view, read over HTTP; never raises.

Its counts (pending, due soon) come through :mod:`services.ops.status` as the CLI reads them.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.ops.worker_stats import authorized, refused_hint


@dataclass(frozen=True)
class WorkerAnswer:
    """A view's JSON body, or why there is none.

    ``body`` is None with ``absent`` True when the worker answered 404 (it
    holds no such thing), and with ``note`` when it could not be read at all.
    """

    body: dict[str, Any] | None = None
    absent: bool = False
    note: str | None = None


class WorkerViews:
    """The views of one worker at ``base_url`` (e.g. ``http://127.0.0.1:6066``)."""

    def __init__(
        self, base_url: str, token: Callable[[], str | None], timeout: float = 2.0
    ) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def booking(
        self, booking_id: str, clinic_id: str | None = None, patient_id: str | None = None
    ) -> WorkerAnswer:
        """``/reminders/bookings/{id}``: the booking's pending reminders and those done.

        With the booking's clinic and patient the worker reads one plan;
        without them it has to read every plan it holds.
        """
        path = f"/reminders/bookings/{urllib.parse.quote(booking_id, safe='')}"
        if clinic_id and patient_id:
            path += "?" + urllib.parse.urlencode({"clinic": clinic_id, "patient": patient_id})
        return self._get(path)

    def _get(self, path: str) -> WorkerAnswer:
        url = self._base + path
        token = self._token()
        try:
            with urllib.request.urlopen(authorized(url, token), timeout=self._timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return WorkerAnswer(absent=True)
            hint = refused_hint(exc.code, token)
            return WorkerAnswer(note=f"reminders worker at {url} answered {exc.code}{hint}")
        except (OSError, ValueError) as exc:
            return WorkerAnswer(note=f"reminders worker at {url} not readable: {exc}")
        if not isinstance(body, dict):
            return WorkerAnswer(note=f"reminders worker at {url} did not answer a JSON object")
        return WorkerAnswer(body)
