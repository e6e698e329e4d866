"""Plain HTML forms: their fields, where they came from, and whether a token matches."""

from __future__ import annotations

import hmac
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request

FORM_LIMIT = 16_384
"""No console form is bigger; a larger body is not parsed."""


async def form_of(request: Request) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` body (first of each name).

    A body past :data:`FORM_LIMIT` gives no fields, and no more of it is read than the
    limit and one chunk: a console form is never that big, and a huge one must not be
    held in memory to find out.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > FORM_LIMIT:
        return {}
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > FORM_LIMIT:
            return {}
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # as ``request.body()`` keeps it: the handler after the guard reads it
    fields: dict[str, str] = {}
    for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        fields.setdefault(name, value)
    return fields


def same_site(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    if request.headers.get("sec-fetch-site") == "cross-site":
        return False
    origin = request.headers.get("origin") or request.headers.get("referer")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def tokens_match(given: str | None, expected: str | None) -> bool:
    """Both present and equal, compared in constant time."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only, never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
