"""An admin's reveal of one record, unmasked: a booking's journey, a reply, a dead letter.

Each is a POST (a plain form with the session's CSRF token, so a link or a
reload cannot reveal anything) answered with the page itself, not a redirect,
so the unmasked page has no address of its own. The reveal is written to the
audit trail before anything is shown; if the trail cannot be written, nothing is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from services.ops.audit import AuditLog
from services.ops.web import gather
from services.ops.web.auth.guard import Who, who_is
from services.ops.web.pages import Pages
from services.ops.web.scope import scoped
from services.ops.web.sources import SourceDown, Sources
from services.shared.events import is_identifier, is_key_part


class Ambiguous(ValueError):
    """More than one record answers; the message says how to name one."""


MESSAGE_SID = re.compile(r"[A-Za-z0-9]{1,64}")
LETTER_ID = re.compile(r"[a-z]{1,32}:\d{1,6}:\d{1,19}")  # queue:partition:offset


def add_reveal_routes(app: FastAPI, sources: Sources, pages: Pages, audit: AuditLog) -> None:
    """``POST /bookings/{id}/reveal``, ``/replies/{sid}/reveal``, ``/dead-letters/{id}/reveal``."""

    async def reveal(
        request: Request,
        record: str | Callable[[dict[str, Any]], str],
        read: Callable[[], dict[str, Any] | None],
        render: Callable[[dict[str, Any], Who], str],
    ) -> Response:
        """``record`` names what is revealed in the audit trail (from the view, if a callable)."""
        who = who_is(request)
        if not who.admin:
            return JSONResponse({"detail": "only an admin may reveal a record"}, status_code=403)
        try:
            view = await run_in_threadpool(read)
        except SourceDown as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)
        except Ambiguous as exc:
            return JSONResponse({"detail": str(exc)}, status_code=409)
        if view is None:
            return JSONResponse({"detail": f"no such record: {record}"}, status_code=404)
        try:
            audit.record(who.name, "reveal", record if isinstance(record, str) else record(view))
        except OSError as exc:
            detail = f"the audit trail could not be written ({exc}); nothing was revealed"
            return JSONResponse({"detail": detail}, status_code=503)
        return HTMLResponse(render(view, who))

    def refuse(what: str) -> Response:
        return JSONResponse({"detail": f"not a {what}"}, status_code=422)

    @app.post("/bookings/{booking_id}/reveal", response_model=None)
    async def reveal_booking(
        booking_id: str, request: Request, clinic: str | None = None
    ) -> Response:
        """One clinic's booking: an id two clinics use is revealed at the one named
        (``?clinic=``), and the audit trail names that clinic."""
        if not is_identifier(booking_id):
            return refuse("booking id")
        if clinic is not None and not is_key_part(clinic):
            return refuse("clinic id")

        mine = scoped(sources, who_is(request).clinics)

        def read() -> dict[str, Any] | None:
            view = gather.booking(mine, booking_id, reveal=True, clinic_id=clinic)
            if clinic is None and len(view["clinics"]) > 1:
                raise Ambiguous(
                    f"booking id {booking_id} is used by clinics {', '.join(view['clinics'])}: "
                    "reveal it at one (?clinic=...)"
                )
            return view if view["found"] else None

        return await reveal(
            request,
            lambda v: f"booking {','.join(v['clinics'])}/{booking_id}",
            read,
            lambda v, w: pages.journey(v, w, True),
        )

    @app.post("/replies/{message_sid}/reveal", response_model=None)
    async def reveal_reply(message_sid: str, request: Request) -> Response:
        if not MESSAGE_SID.fullmatch(message_sid):
            return refuse("MessageSid")
        return await reveal(
            request,
            f"reply {message_sid}",
            lambda: gather.reply(scoped(sources, who_is(request).clinics), message_sid),
            pages.reply,
        )

    @app.post("/dead-letters/{letter_id}/reveal", response_model=None)
    async def reveal_letter(letter_id: str, request: Request) -> Response:
        if not LETTER_ID.fullmatch(letter_id):
            return refuse("dead letter id (queue:partition:offset)")
        return await reveal(
            request,
            f"dead letter {letter_id}",
            lambda: gather.dead_letter(scoped(sources, who_is(request).clinics), letter_id),
            pages.dead_letter,
        )
