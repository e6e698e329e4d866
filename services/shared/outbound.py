"""Requests the platform makes to addresses clinics give it: callbacks and calendar feeds.

One rule for both: ``https`` (or ``webcal``, which is https) to any host, plain
``http`` only to this machine (a test server, a proxy on loopback). A redirect
is not followed blindly: a callback's, which carries its signature, never; a
feed's only to another address the rule allows.
"""

from __future__ import annotations

import urllib.request
from http.client import HTTPMessage
from typing import IO
from urllib.parse import urlsplit

from services.shared.safe_start import on_loopback


def refusal(url: str) -> str | None:
    """Why ``url`` may not be requested, or None when it may."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "webcal"):
        return None
    if parts.scheme == "http" and on_loopback(parts.hostname or ""):
        return None
    return f"{url!r}: only https addresses are used (plain http only to this machine)"


class _Redirects(urllib.request.HTTPRedirectHandler):
    def __init__(self, follow: bool) -> None:
        self._follow = follow

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not self._follow or refusal(newurl) is not None:
            return None  # the 3xx itself is the answer
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def opener(follow_redirects: bool) -> urllib.request.OpenerDirector:
    """An opener that follows redirects only when asked, and then only where allowed."""
    return urllib.request.build_opener(_Redirects(follow_redirects))
