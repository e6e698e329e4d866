"""The replies inbox's routes: the page, its JSON, and marking a reply handled.

Marking handled is the console's one write: a plain form POST (no script
needed), an admin's only, with the session's CSRF token (checked by the guard).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from services.notifier.patients.replies import UNMAPPED
from services.ops.audit import AuditLog
from services.ops.web import gather
from services.ops.web.auth.forms import form_of
from services.ops.web.auth.guard import Who, who_is
from services.ops.web.pages import Pages
from services.ops.web.scope import scoped
from services.ops.web.sources import SourceDown, Sources
from services.shared.events import is_key_part

MESSAGE_SID = re.compile(r"[A-Za-z0-9]{1,64}")
BAD_CLINIC = "clinic must be a clinic id: 1-128 letters, digits or . _ @ -"


def add_inbox_routes(app: FastAPI, sources: Sources, pages: Pages, audit: AuditLog) -> None:
    """``GET /replies``, ``GET /api/replies``, ``POST /replies/{message_sid}/handled``."""

    async def view(clinic: str, show: str, who: Who) -> dict[str, Any]:
        mine = scoped(sources, who.clinics)
        return await run_in_threadpool(gather.inbox, mine, clinic or None, show == "all")

    @app.get("/replies", response_class=HTMLResponse)
    async def inbox_page(request: Request, clinic: str = "", show: str = "unread") -> HTMLResponse:
        who = who_is(request)
        if clinic and not _clinic_or_any(clinic):
            return HTMLResponse(pages.search("", BAD_CLINIC, who), status_code=422)
        return HTMLResponse(pages.inbox(await view(clinic, show, who), who))

    @app.get("/api/replies")
    async def api_inbox(request: Request, clinic: str = "", show: str = "unread") -> JSONResponse:
        if clinic and not _clinic_or_any(clinic):
            return JSONResponse({"detail": BAD_CLINIC}, status_code=422)
        return JSONResponse(await view(clinic, show, who_is(request)))

    @app.post("/replies/{message_sid}/handled", response_model=None)
    async def handled(message_sid: str, request: Request) -> Response:
        who = who_is(request)
        if not who.admin:
            return JSONResponse({"detail": "only an admin marks replies handled"}, 403)
        if not MESSAGE_SID.fullmatch(message_sid):
            return JSONResponse({"detail": "no such reply"}, status_code=404)
        try:
            mine = scoped(sources, who.clinics)
            found = await run_in_threadpool(mine.mark_reply_handled, message_sid)
        except SourceDown as exc:
            return JSONResponse({"detail": str(exc)}, status_code=503)
        if not found:
            return JSONResponse({"detail": "no such reply"}, status_code=404)
        audit.record(who.name, "mark-handled", f"reply {message_sid}")
        form = await form_of(request)
        back = {k: v for k, v in form.items() if k in ("clinic", "show") and v}
        return RedirectResponse("/replies" + (f"?{urlencode(back)}" if back else ""), 303)


def _clinic_or_any(clinic: str) -> bool:
    """A clinic id, or ``*``: the texts to numbers no clinic is mapped to."""
    return clinic == UNMAPPED or is_key_part(clinic)
