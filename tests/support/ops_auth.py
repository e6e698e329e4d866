"""The ops console's door for tests: a users file with a viewer and an admin, and logging in
through the console's own login form (a test client, or Chromium)."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi.testclient import TestClient

from services.ops.audit import AuditLog
from services.ops.web.auth.guard import Auth, CookiePolicy
from services.ops.web.auth.passwords import hash_password
from services.ops.web.auth.sessions import Sessions
from services.ops.web.auth.throttle import LoginThrottle
from services.ops.web.auth.users import Role, User, UsersFile, write_users

if TYPE_CHECKING:
    from playwright.sync_api import Page

VIEWER, VIEWER_PASSWORD = "vera", "vera-reads-only-1"
ADMIN, ADMIN_PASSWORD = "ada", "ada-may-reveal-12"
PASSWORDS = {VIEWER: VIEWER_PASSWORD, ADMIN: ADMIN_PASSWORD}
SCRIPT_TOKEN = "scripts-read-the-json-with-this"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@cache
def _hashes() -> tuple[str, str]:
    return hash_password(VIEWER_PASSWORD), hash_password(ADMIN_PASSWORD)


def write_test_users(path: Path) -> Path:
    viewer, admin = _hashes()
    write_users(
        path,
        {VIEWER: User(VIEWER, Role.VIEWER, viewer), ADMIN: User(ADMIN, Role.ADMIN, admin)},
    )
    return path


def make_auth(
    folder: Path,
    now: Callable[[], float] | None = None,
    idle: float = 1800,
    lifetime: float = 12 * 3600,
    max_failures: int = 5,
    api_token: str | None = None,
) -> Auth:
    """A viewer and an admin in ``folder/ops-users.yaml``, the audit trail beside it."""
    clock = {"now": now} if now else {}
    return Auth(
        users=UsersFile(write_test_users(folder / "ops-users.yaml")),
        sessions=Sessions(idle, lifetime, **clock),
        throttle=LoginThrottle(max_failures, 900, **clock),
        audit=AuditLog(folder / "ops-audit.jsonl"),
        cookies=CookiePolicy(secure=False, samesite="strict", max_age=int(lifetime)),
        failure_delay=0.0,
        api_token=api_token,
    )


def log_in_client(web: TestClient, name: str, password: str | None = None) -> str:
    """Log ``web`` in through the form; returns the session's CSRF token."""
    form = web.get("/login")
    token = CSRF.search(form.text)
    assert token, form.text
    done = web.post(
        "/login",
        data={
            "csrf_token": token.group(1),
            "username": name,
            "password": password or PASSWORDS[name],
        },
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return csrf_of(web.get("/").text)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no form with a CSRF token on the page"
    return found.group(1)


def log_in_browser(page: Page, base_url: str, name: str, path: str = "/") -> None:
    """Open ``path``, get sent to the login page, log in, and come back to ``path``."""
    page.goto(base_url + path)
    page.wait_for_url("**/login?next=*")
    page.fill("#username", name)
    page.fill("#password", PASSWORDS[name])
    page.click("#login button[type=submit]")
    page.wait_for_selector("#user")
