"""The replies inbox in headless Chromium, filled by patients' texts through the notifier's
signed webhook, with the booking service on the real broker: each reply linked to its booking,
one marked handled by an admin, a text revealed (and audited), and a confirmation shown in the
booking's journey."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from services.notifier.bookings.seen import BookingsSeen
from services.notifier.patients.replies import replies
from services.ops.web.app import create_app
from services.ops.web.settings import OpsWebSettings
from services.ops.web.sources import LiveSources
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.clock import ManualClock
from services.shared.database import make_engine
from services.shared.topics import Topics
from tests.integration.ops_web.browser import headless_chromium, serving
from tests.support.booking_service import BOOKING, RunningBookings, booking_service
from tests.support.notifier_http import CLINIC_NUMBER, JANE, NOW, Running, run, settings_for
from tests.support.ops_auth import ADMIN, log_in_browser, make_auth
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration
DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"
TEXTS = [
    ("C", "SMconfirm"),
    ("R", "SMrearrange"),
    ("Can I bring my daughter? +447700900555", "SMtext"),
    ("CANCEL", "SMcancel"),
]


@pytest.fixture
def bookings(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path
) -> Iterator[RunningBookings]:
    folder = tmp_path / "booking"
    folder.mkdir()
    with booking_service(broker.bootstrap, topics, f"{group_id}-b", folder, ManualClock(NOW)) as on:
        yield on


@pytest.fixture
def notifier(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path
) -> Iterator[Running]:
    yield from run(settings_for(broker, topics, group_id, tmp_path))


@pytest.fixture
def ops_url(
    broker: EmbeddedBroker,
    topics: Topics,
    bookings: RunningBookings,
    notifier: Running,
    tmp_path: Path,
) -> Iterator[str]:
    """Jane booked, her four texts taken, and the ops console over the services' stores."""
    assert bookings.api.post("/v1/bookings", json=BOOKING).status_code == 201
    settings = notifier.settings
    wait_until(lambda: _linked(settings.database_url), "the notifier sees Jane's booking")
    for body, sid in TEXTS:
        form = {"From": JANE, "To": CLINIC_NUMBER, "Body": body, "MessageSid": sid}
        assert notifier.post("/v1/twilio/inbound", form).status_code == 200
    wait_until(lambda: "booking.confirmed" in bookings.event_types("bk-1001"), "confirmed")
    ops = OpsWebSettings(
        bootstrap_servers=broker.bootstrap,
        topic_prefix=topics.prefix,
        var_dir=settings.var_dir,
        booking_database_url=bookings.url,
        notifier_database_url=settings.database_url,
        worker_web_port=free_port(),
    )
    clock = ManualClock(NOW)
    (tmp_path / "ops").mkdir()
    auth = make_auth(tmp_path / "ops")
    with serving(create_app(LiveSources(ops, clock), clock, auth), free_port()) as url:
        yield url


def _linked(url: str) -> bool:
    seen = BookingsSeen(url)
    try:
        return seen.for_phone("dr-jenny", JANE, NOW) is not None
    finally:
        seen.close()


@pytest.fixture
def page() -> Iterator[Page]:
    with headless_chromium() as opened:
        yield opened


def test_replies_land_in_the_inbox_and_one_is_marked_handled(
    ops_url: str, page: Page, notifier: Running, tmp_path: Path
) -> None:
    log_in_browser(page, ops_url, ADMIN)
    page.click("#nav-replies")
    page.wait_for_url("**/replies")
    rows = page.locator("#replies tbody tr")
    assert rows.count() == 3, page.inner_text("#replies")
    assert "dr-jenny 3" in page.inner_text("#clinics")
    assert "asks to rearrange (replied R)" in page.inner_text("#reply-SMrearrange")
    assert "(hidden, 38 characters)" in page.inner_text("#reply-SMtext")
    cancelled = page.inner_text("#reply-SMcancel")
    assert "opted out of texts (replied CANCEL)" in cancelled
    assert "may have meant to cancel the appointment" in cancelled
    assert page.locator("#reply-SMconfirm").count() == 0  # confirmed on the booking instead
    assert page.locator("#reply-SMtext a[href='/bookings/bk-1001']").count() == 1
    html = page.content()
    assert JANE not in html and "+447700900555" not in html and "+4477...123" in html
    screenshots = DOCS_IMAGES if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path
    page.screenshot(path=str(screenshots / "ops-replies.png"), full_page=True)

    page.click("#reply-SMrearrange .mark-handled")
    page.wait_for_load_state()
    assert page.locator("#reply-SMrearrange").count() == 0
    assert page.locator("#replies tbody tr").count() == 2
    assert "dr-jenny 2" in page.inner_text("#clinics")
    page.click("text=All")
    page.wait_for_url("**show=all")
    assert "handled" in page.inner_text("#reply-SMrearrange")
    engine = make_engine(notifier.settings.database_url)
    try:
        with engine.connect() as conn:
            handled = {r.message_sid: r.handled_at for r in replies(conn)}
    finally:
        engine.dispose()
    assert handled["SMrearrange"] is not None and handled["SMtext"] is None

    page.click("#reply-SMtext a")
    page.wait_for_url("**/bookings/bk-1001")
    events = page.inner_text("#events")
    assert events.index("booking.created") < events.index("booking.confirmed")

    page.goto(ops_url + "/replies?show=all")
    page.click("#reply-SMtext .reveal-reply")
    page.wait_for_selector("#reply-body")
    assert "Can I bring my daughter?" in page.inner_text("#reply-body")
    assert JANE in page.inner_text("#reply-phone")
    trail = (tmp_path / "ops" / "ops-audit.jsonl").read_text()
    assert '"action": "reveal", "record": "reply SMtext"' in trail
    assert JANE not in trail and "daughter" not in trail
