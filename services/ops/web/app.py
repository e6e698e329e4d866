"""The ops web app: server-rendered pages and the JSON endpoints behind them.

Everything it serves is local (no CDN): the templates, one stylesheet, one
small script. Every page and endpoint but the login page, ``/healthz`` and
``/metrics`` needs a login (``auth/guard.py``); every view is masked before it
is rendered or returned, and only an admin's audited reveal shows one record whole.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool

from services.ops.web import gather
from services.ops.web.auth.guard import Auth, Who, install_guard, who_is
from services.ops.web.auth.login import add_login_routes
from services.ops.web.inbox import add_inbox_routes
from services.ops.web.pages import Pages
from services.ops.web.reveal import add_reveal_routes
from services.ops.web.scope import scoped
from services.ops.web.sources import Sources
from services.shared.clock import Clock
from services.shared.events import is_identifier
from services.shared.metrics import PlatformMetrics, observe_backlogs

BAD_ID = "booking_id must be 1-128 letters, digits or . _ : @ -"


def create_app(sources: Sources, clock: Clock, auth: Auth) -> FastAPI:
    """The app over ``sources``, behind ``auth``; nothing is read until a page is asked for."""
    app = FastAPI(title="clinic-reminders ops", docs_url=None, redoc_url=None)
    pages = Pages()
    metrics = PlatformMetrics("ops")
    static = str(files("services.ops.web").joinpath("static"))
    app.mount("/static", StaticFiles(directory=static), name="static")

    async def overview(who: Who) -> dict[str, Any]:
        return await run_in_threadpool(gather.overview, scoped(sources, who.clinics), clock.now())

    async def journey(booking_id: str, who: Who) -> dict[str, Any]:
        return await run_in_threadpool(gather.booking, scoped(sources, who.clinics), booking_id)

    @app.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        """Consumer lag per group and partition, the outbox backlog and broker reachability."""
        status = await run_in_threadpool(sources.status)
        observe_backlogs(
            metrics,
            lag=[(p.group, p.topic, p.partition, p.lag) for p in status.lag],
            outbox=status.outbox_backlog,
        )
        metrics.broker_up.set(1 if status.broker_reachable else 0)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/api/overview")
    async def api_overview(request: Request) -> dict[str, Any]:
        return await overview(who_is(request))

    @app.get("/api/bookings/{booking_id}")
    async def api_booking(booking_id: str, request: Request) -> Response:
        if not is_identifier(booking_id):
            return JSONResponse({"detail": BAD_ID}, status_code=422)
        view = await journey(booking_id, who_is(request))
        return JSONResponse(view, status_code=200 if view["found"] else 404)

    @app.get("/", response_class=HTMLResponse)
    async def index(request: Request) -> str:
        who = who_is(request)
        return pages.overview(await overview(who), who)

    @app.get("/bookings", response_model=None)
    async def search(request: Request, booking_id: str = "") -> Response:
        booking_id = booking_id.strip()
        if not is_identifier(booking_id):
            html = pages.search(booking_id, BAD_ID if booking_id else None, who_is(request))
            return HTMLResponse(html, status_code=422 if booking_id else 200)
        return RedirectResponse(f"/bookings/{booking_id}", status_code=303)

    @app.get("/bookings/{booking_id}", response_class=HTMLResponse)
    async def booking_page(booking_id: str, request: Request) -> HTMLResponse:
        who = who_is(request)
        if not is_identifier(booking_id):
            return HTMLResponse(pages.search(booking_id, BAD_ID, who), status_code=422)
        view = await journey(booking_id, who)
        return HTMLResponse(pages.journey(view, who), status_code=200 if view["found"] else 404)

    add_inbox_routes(app, sources, pages, auth.audit)
    add_reveal_routes(app, sources, pages, auth.audit)
    add_login_routes(app, auth, pages)
    install_guard(app, auth)
    return app
