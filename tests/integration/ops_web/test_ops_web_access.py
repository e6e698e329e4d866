"""Who may see what, in headless Chromium against the console served for real: an anonymous
visitor is sent to log in, a viewer sees masked data and cannot reveal, an admin's reveal
shows the record and is in the audit trail, which holds no personal data."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page

from tests.integration.ops_web.conftest import Console
from tests.integration.ops_web.history import EMAIL, PHONE
from tests.support.ops_auth import ADMIN, VIEWER, log_in_browser

pytestmark = pytest.mark.integration
PERSONAL = (PHONE, EMAIL, "Jane", "microsclerotherapy")


class NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def status_of(request: urllib.request.Request) -> tuple[int, str]:
    """The status and Location of one request, redirects not followed."""
    try:
        with urllib.request.build_opener(NoRedirects()).open(request) as answer:
            return answer.status, answer.headers.get("location", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("location", "")


def test_an_anonymous_visitor_is_refused(console: Console, page: Page) -> None:
    page.goto(console.url + "/bookings/bk-7001")
    page.wait_for_url("**/login?next=%2Fbookings%2Fbk-7001")
    html = page.content()
    assert "bk-7001" not in page.inner_text("main") and page.locator("#login").count() == 1
    assert all(p not in html for p in PERSONAL)

    api = urllib.request.Request(console.url + "/api/bookings/bk-7001")
    assert status_of(api) == (401, "")
    forged = urllib.request.Request(
        console.url + "/api/overview", headers={"Authorization": "Bearer guessed"}
    )
    assert status_of(forged) == (401, "")
    reveal = urllib.request.Request(console.url + "/bookings/bk-7001/reveal", data=b"")
    assert status_of(reveal) == (303, "/login?next=%2Fbookings%2Fbk-7001%2Freveal")

    page.fill("#username", VIEWER)
    page.fill("#password", "not the password at all")
    page.click("#login button[type=submit]")
    assert "Wrong user name or password" in page.inner_text("#login-error")
    assert [e["action"] for e in console.audit.entries()] == ["login-refused"]


def test_a_viewer_sees_masked_data_and_cannot_reveal(console: Console, page: Page) -> None:
    log_in_browser(page, console.url, VIEWER, "/bookings/bk-7001")
    assert page.url.endswith("/bookings/bk-7001")
    card = page.inner_text("#booking-dr-jenny")
    assert "+4477...123" in card and "j***@example.com" in card and "(hidden)" in card
    assert all(p not in page.content() for p in PERSONAL)
    assert page.locator("#reveal").count() == 0
    csrf = page.get_attribute("#logout input[name=csrf_token]", "value")
    status = page.evaluate(
        """async (csrf) => (await fetch('/bookings/bk-7001/reveal', {method: 'POST',
             headers: {'content-type': 'application/x-www-form-urlencoded'},
             body: 'csrf_token=' + encodeURIComponent(csrf)})).status""",
        csrf,
    )
    assert status == 403
    page.goto(console.url + "/")
    assert page.locator(".reveal-letter").count() == 0
    assert all(p not in page.content() for p in PERSONAL)
    assert not [e for e in console.audit.entries() if e["action"] == "reveal"]


def test_an_admins_reveal_shows_the_record_and_is_audited(console: Console, page: Page) -> None:
    log_in_browser(page, console.url, ADMIN, "/bookings/bk-7001")
    assert PHONE not in page.content()
    page.click("#reveal button")
    page.wait_for_selector("#revealed")
    card = page.inner_text("#booking-dr-jenny")
    assert PHONE in card and EMAIL in card and "microsclerotherapy" in card

    page.goto(console.url + "/bookings/bk-7001")  # left and come back: masked again
    assert PHONE not in page.content() and page.locator("#reveal").count() == 1

    page.goto(console.url + "/")
    page.locator("#dead-letters .reveal-letter").first.click()
    page.wait_for_selector("#payload")
    assert PHONE in page.inner_text("#payload")

    reveals = [e for e in console.audit.entries() if e["action"] == "reveal"]
    records = [e["record"] for e in reveals]
    assert records[0] == "booking dr-jenny/bk-7001" and records[1].startswith(
        "dead letter notifications:"
    )
    assert {e["user"] for e in reveals} == {ADMIN}
    trail = console.audit.path.read_text()
    for personal in (*PERSONAL, "jane", "+4477"):
        assert personal not in trail, personal
    assert all(set(json.loads(line)) <= {"at", "user", "action", "record"}
               for line in trail.splitlines())  # fmt: skip

    page.click("#logout button")
    page.wait_for_url("**/login")
    page.goto(console.url + "/")
    page.wait_for_url("**/login?next=%2F")
    assert console.audit.entries()[-1]["action"] == "logout"
