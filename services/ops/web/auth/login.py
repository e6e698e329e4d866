"""``GET/POST /login`` and ``POST /logout``.

The login form carries a token that must match a cookie set with the form (a
double submit: another site can neither read the cookie nor set it), failed
logins are counted per client address and per user name (each try counted
before its password is checked) and answered after a delay, and a password is
checked against an argon2 hash in constant time whether or not the user
exists, a few at a time. A login always starts a new session.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from services.ops.web.auth.forms import form_of, safe_next, same_site, tokens_match
from services.ops.web.auth.guard import SESSION_COOKIE, Auth, TooBusy, who_is
from services.ops.web.auth.passwords import verify_password
from services.ops.web.auth.users import NAME
from services.ops.web.pages import Pages

LOGIN_COOKIE = "ops_login"
LOGIN_FORM_SECONDS = 3600
log = logging.getLogger("ops.web.auth")


def add_login_routes(app: FastAPI, auth: Auth, pages: Pages) -> None:
    def form(request: Request, next_: str, error: str | None, status: int = 200) -> Response:
        # One token per browser until it logs in: a second login page (another tab, the
        # browser's own favicon request sent here) must not void the first one's form.
        kept = request.cookies.get(LOGIN_COOKIE, "")
        token = kept if len(kept) >= 32 else secrets.token_urlsafe(32)
        response = HTMLResponse(pages.login(token, safe_next(next_), error), status_code=status)
        auth.set_cookie(response, request, LOGIN_COOKIE, token, LOGIN_FORM_SECONDS, "/login")
        return response

    @app.get("/login", response_model=None)
    async def login_page(request: Request, next: str = "/") -> Response:
        if auth.who(request) is not None:
            return RedirectResponse(safe_next(next), status_code=303)
        return form(request, next, None)

    @app.post("/login", response_model=None)
    async def login(request: Request) -> Response:
        fields = await form_of(request)
        next_ = safe_next(fields.get("next"))
        sent = request.cookies.get(LOGIN_COOKIE)
        if not same_site(request) or not tokens_match(fields.get("csrf_token"), sent):
            return form(request, next_, "The login form had expired; please try again.", 403)
        client = request.client.host if request.client else "?"
        name, password = fields.get("username", ""), fields.get("password", "")
        wait = auth.throttle.take(client, name[:64])
        if wait:
            minutes = max(1, round(wait / 60))
            text = f"Too many failed logins; try again in about {minutes} minute(s)."
            refused = form(request, next_, text, 429)
            refused.headers["Retry-After"] = str(int(wait) + 1)
            return refused
        user = auth.users.find(name) if NAME.fullmatch(name) else None
        stored = user.password_hash if user else None
        try:
            async with auth.verifying:  # each check takes 64 MiB: a few at a time
                right = await run_in_threadpool(verify_password, stored, password)
        except TooBusy:
            return form(request, next_, "Too many logins at once; try again shortly.", 503)
        if not right:
            if user is not None:
                auth.audit.record(user.name, "login-refused")
            else:
                log.warning("login refused: no such user (the name is not logged)")
            await asyncio.sleep(auth.failure_delay)
            return form(request, next_, "Wrong user name or password.", 401)
        assert user is not None
        auth.throttle.succeeded(client, name[:64])
        session = auth.sessions.start(user.name)
        auth.audit.record(user.name, "login")
        response = RedirectResponse(next_, status_code=303)
        auth.set_cookie(response, request, SESSION_COOKIE, session.id, auth.cookies.max_age)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    @app.post("/logout", response_model=None)
    async def logout(request: Request) -> Response:
        who = who_is(request)
        if who.session_id:
            auth.sessions.end(who.session_id)
            auth.audit.record(who.name, "logout")
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response
