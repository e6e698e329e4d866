"""The door: every request but the open paths must come with a live session (or, to read
``/api/...``, the scripts' token), and every state-changing one with the session's CSRF token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.requests import Request
from starlette.responses import Response

from services.ops.audit import AuditLog
from services.ops.web.auth.forms import form_of, same_site, tokens_match
from services.ops.web.auth.sessions import Session, Sessions
from services.ops.web.auth.throttle import LoginThrottle
from services.ops.web.auth.users import Role, UsersFile
from services.shared.web_token import bearer_matches

SESSION_COOKIE = "ops_session"
OPEN_PATHS = frozenset({"/login", "/healthz", "/metrics", "/favicon.ico"})
OPEN_PREFIXES = ("/static/",)
READS = frozenset({"GET", "HEAD"})
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
SCRIPTS = "scripts"
"""Who a request with the API token is, in the audit trail and the page."""
BAD_CSRF = "the form's CSRF token is missing or wrong (reload the page and try again)"

Next = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Who:
    """The person (or script) a request comes from."""

    name: str
    role: Role
    csrf: str = ""
    session_id: str | None = None
    clinics: tuple[str, ...] = ()
    """The clinics whose records this person sees; empty: every clinic
    (:mod:`services.ops.web.scope`)."""

    @property
    def admin(self) -> bool:
        return self.role is Role.ADMIN


@dataclass(frozen=True)
class CookiePolicy:
    secure: bool | None
    """None: Secure when the request came over https."""
    samesite: str
    max_age: int

    def is_secure(self, request: Request) -> bool:
        return self.secure if self.secure is not None else request.url.scheme == "https"


class TooBusy(Exception):
    """More password checks are waiting than :class:`Verifying` lets wait."""


class Verifying:
    """At most ``at_once`` password checks run together, and ``waiting`` more wait their turn;
    past that a login is turned away (:class:`TooBusy`), so that a flood of logins cannot
    take the console's memory (an argon2 check takes 64 MiB)."""

    def __init__(self, at_once: int = 2, waiting: int = 16) -> None:
        self._turns = asyncio.Semaphore(at_once)
        self._room = at_once + waiting
        self._inside = 0

    async def __aenter__(self) -> None:
        if self._inside >= self._room:
            raise TooBusy
        self._inside += 1
        try:
            await self._turns.acquire()
        except BaseException:
            self._inside -= 1
            raise

    async def __aexit__(self, *_: object) -> None:
        self._turns.release()
        self._inside -= 1


@dataclass
class Auth:
    """Who may come in, and what the login form needs."""

    users: UsersFile
    sessions: Sessions
    throttle: LoginThrottle
    audit: AuditLog
    cookies: CookiePolicy
    failure_delay: float
    api_token: str | None = None
    verifying: Verifying = field(default_factory=Verifying)

    def who(self, request: Request) -> Who | None:
        """From the session cookie, else (reads of ``/api/``) from the bearer token."""
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is not None:
            return self._person(session)
        header = request.headers.get("authorization")
        scripted = self.api_token and request.url.path.startswith("/api/")
        if scripted and bearer_matches(header, self.api_token or ""):
            return Who(SCRIPTS, Role.VIEWER)
        return None

    def _person(self, session: Session) -> Who | None:
        user = self.users.find(session.user)
        if user is None:  # removed from the users file since logging in
            self.sessions.end_user(session.user)
            return None
        return Who(user.name, user.role, session.csrf, session.id, user.clinics)

    def set_cookie(
        self,
        response: Response,
        request: Request,
        name: str,
        value: str,
        max_age: int,
        path: str = "/",
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            httponly=True,
            secure=self.cookies.is_secure(request),
            samesite=self.cookies.samesite,  # type: ignore[arg-type]
        )


def install_guard(app: FastAPI, auth: Auth) -> None:
    """Refuse whoever is not logged in; check the CSRF token of every other method than GET."""

    @app.middleware("http")
    async def guard(request: Request, call_next: Next) -> Response:
        response = await _door(auth, request, call_next)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response


async def _door(auth: Auth, request: Request, call_next: Next) -> Response:
    path = request.url.path
    if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
        return await call_next(request)
    who = auth.who(request)
    if who is None:
        return _refused(request)
    if request.method not in READS:
        if who.session_id is None:
            return JSONResponse({"detail": "the API token only reads"}, status_code=403)
        form = await form_of(request)
        given = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not same_site(request) or not tokens_match(given, who.csrf):
            return JSONResponse({"detail": BAD_CSRF}, status_code=403)
    request.state.who = who
    return await call_next(request)


def _refused(request: Request) -> Response:
    """JSON callers get 401; a browser is sent to the login page and back afterwards."""
    if request.url.path.startswith("/api/"):
        return JSONResponse(
            {"detail": "log in first (a session cookie), or send Authorization: Bearer <token>"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="clinic-reminders ops"'},
        )
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)


def who_is(request: Request) -> Who:
    """The person the guard let in (every guarded route has one)."""
    who: Who = request.state.who
    return who
