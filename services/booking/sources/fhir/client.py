"""A FHIR R4 server over REST, as a clinic's system serves it: searches followed page by page,
reads, its CapabilityStatement, with its login and its requests to slow down.

Requests go only where :mod:`services.shared.outbound` allows (https, or plain http on
this machine), are never redirected (a token would follow), and each ``link[next]`` is
requested exactly as the server gave it, but only on the server's own origin.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime
from typing import Any

from services.booking.sources.fhir.errors import FhirRefusedRequest, FhirUnavailable
from services.booking.sources.fhir.login import Login, NoLogin
from services.shared.outbound import opener, refusal

FHIR_JSON = "application/fhir+json"
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
RETRY_STATUSES = (429, 503)


class FhirClient:
    """One FHIR server at ``base_url`` (``https://ehr.example/fhir/R4``).

    A 429 or 503 is waited out as its ``Retry-After`` says (at most ``longest_wait``
    seconds, ``waits`` times per request), then :class:`FhirUnavailable`.
    """

    def __init__(
        self,
        base_url: str,
        login: Login | None = None,
        timeout: float = 15.0,
        waits: int = 3,
        longest_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if (why := refusal(base_url)) is not None:
            raise ValueError(why)
        self.base_url = base_url.rstrip("/")
        self._origin = _origin(self.base_url)
        self._login = login or NoLogin()
        self._timeout = timeout
        self._waits = waits
        self._longest_wait = longest_wait
        self._sleep = sleep

    def capabilities(self) -> dict[str, Any]:
        """The server's CapabilityStatement (``GET [base]/metadata``)."""
        return self._get(f"{self.base_url}/metadata")

    def search(self, resource_type: str, params: list[tuple[str, str]]) -> Iterator[dict[str, Any]]:
        """Each page (a searchset Bundle) of ``GET [base]/{resource_type}?params``, following
        ``link[next]`` exactly as given until there is none."""
        url: str | None = f"{self.base_url}/{resource_type}?{urllib.parse.urlencode(params)}"
        seen: set[str] = set()
        while url is not None:
            if url in seen:
                raise FhirUnavailable(f"the server's next link goes round in a circle: {url}")
            seen.add(url)
            page = self._get(url)
            if page.get("resourceType") != "Bundle":
                raise FhirUnavailable(
                    f"a search answered {page.get('resourceType')!r}, not a Bundle"
                )
            yield page
            url = _next_link(page)
            if url is not None and _origin(url) != self._origin:
                raise FhirRefusedRequest(
                    f"the server's next link {url!r} leaves {self._origin}; not followed"
                )

    def read(self, reference: str) -> dict[str, Any] | None:
        """The resource at ``reference`` (``Patient/123``, or an absolute URL on this server);
        None if the server has no such resource (404 or 410)."""
        url = reference if "://" in reference else f"{self.base_url}/{reference}"
        if _origin(url) != self._origin:
            raise FhirRefusedRequest(f"{reference!r} is on another server; not read")
        try:
            return self._get(url)
        except _Gone:
            return None

    def _get(self, url: str) -> dict[str, Any]:
        for attempt in range(self._waits + 1):
            headers = {"Accept": FHIR_JSON}
            if (authorization := self._login.authorization()) is not None:
                headers["Authorization"] = authorization
            request = urllib.request.Request(url, headers=headers)
            try:
                with opener(follow_redirects=False).open(
                    request, timeout=self._timeout
                ) as response:
                    body = response.read(MAX_RESPONSE_BYTES + 1)
            except urllib.error.HTTPError as exc:
                wait = _retry_after(exc.headers.get("Retry-After"))
                if (
                    exc.code in RETRY_STATUSES
                    and attempt < self._waits
                    and wait <= self._longest_wait
                ):
                    self._sleep(wait)
                    continue
                raise _error(exc, url, wait) from exc
            except (urllib.error.URLError, OSError) as exc:
                raise FhirUnavailable(f"cannot reach {url}: {exc}") from exc
            if len(body) > MAX_RESPONSE_BYTES:
                raise FhirUnavailable(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
            try:
                parsed = json.loads(body)
            except ValueError as exc:
                raise FhirUnavailable(f"{url} answered something that is not JSON: {exc}") from exc
            if not isinstance(parsed, dict):
                raise FhirUnavailable(f"{url} answered JSON that is not a resource")
            return parsed
        raise AssertionError("unreachable")


class _Gone(Exception):
    pass


def _error(exc: urllib.error.HTTPError, url: str, wait: float) -> Exception:
    if exc.code in (404, 410):
        return _Gone()
    said = _outcome_text(exc)
    if exc.code in RETRY_STATUSES:
        return FhirUnavailable(f"{url} answered HTTP {exc.code} (asked to wait {wait:.0f}s){said}")
    if exc.code >= 500:
        return FhirUnavailable(f"{url} answered HTTP {exc.code}{said}")
    return FhirRefusedRequest(f"{url} answered HTTP {exc.code}{said}")


def _outcome_text(exc: urllib.error.HTTPError) -> str:
    """What an OperationOutcome in the error's body says, if there is one."""
    try:
        outcome = json.loads(exc.read(64 * 1024))
    except (ValueError, OSError):
        return ""
    issues = outcome.get("issue") if isinstance(outcome, dict) else None
    texts = [
        str(i.get("diagnostics") or (i.get("details") or {}).get("text") or "")
        for i in issues or []
        if isinstance(i, dict)
    ]
    said = "; ".join(t for t in texts if t)
    return f": {said}" if said else ""


def _retry_after(value: str | None) -> float:
    """Seconds to wait by a ``Retry-After`` header (seconds or an HTTP date); 1 if none."""
    if not value:
        return 1.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return 1.0


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
