"""The ops page in headless Chromium, over real stores, the real broker and a worker view."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from services.ops.web.app import create_app
from services.ops.web.settings import OpsWebSettings
from services.ops.web.sources import LiveSources
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.clock import ManualClock
from services.shared.topics import Topics
from tests.integration.ops_web.browser import headless_chromium, serving
from tests.integration.ops_web.history import (
    EMAIL,
    NOW,
    PHONE,
    History,
    background,
    book,
    plan_and_emit,
    publish,
    record_outcomes,
)
from tests.integration.ops_web.worker_view import worker_views

pytestmark = pytest.mark.integration
DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's own folder, or docs/images with UPDATE_SCREENSHOTS=1."""
    return DOCS_IMAGES if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


@pytest.fixture
def ops_url(broker: EmbeddedBroker, topics: Topics, tmp_path: Path) -> Iterator[str]:
    """The ops page over a day of history written by the services' own code."""
    booking_url = f"sqlite:///{tmp_path}/booking.db"
    ledger_url = f"sqlite:///{tmp_path}/notifier.db"
    history = History()
    plan_and_emit(book(booking_url, topics), history)
    extra = background()
    record_outcomes(ledger_url, history, extra)
    publish(broker.bootstrap, topics, history.due + extra)
    with worker_views(history.patients, NOW) as worker_port:
        settings = OpsWebSettings(
            bootstrap_servers=broker.bootstrap,
            topic_prefix=topics.prefix,
            var_dir=tmp_path,
            booking_database_url=booking_url,
            notifier_database_url=ledger_url,
            worker_web_port=worker_port,
        )
        clock = ManualClock(NOW)
        with serving(create_app(LiveSources(settings, clock), clock), free_port()) as url:
            yield url


@pytest.fixture
def page() -> Iterator[Page]:
    with headless_chromium() as opened:
        yield opened


def assert_masked(html: str) -> None:
    assert PHONE not in html, "a raw phone number is on the page"
    assert EMAIL not in html, "a raw email address is on the page"


def test_overview_shows_outcomes_reconciliation_and_dead_letters(
    ops_url: str, page: Page, screenshots: Path
) -> None:
    page.goto(ops_url + "/")

    letters = page.inner_text("#dead-letters")
    assert "Twilio 21610" in letters and "+4477...123" in letters
    assert "unknown treatment 'laser-ablation'" in letters
    reconciliation = page.inner_text("#reconciliation")
    assert "leeds-vein" in reconciliation and "dr-jenny" in reconciliation
    assert page.locator("#reconciliation .diff-bad").all_inner_texts() == ["1"]
    assert page.locator("#per-clinic svg.chart").count() == 2
    assert page.locator("#per-clinic rect.s-failed").count() > 0
    assert page.locator("#sources-down").count() == 0
    assert_masked(page.content())
    screenshots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshots / "ops-console.png"), full_page=True)


def test_search_shows_a_bookings_whole_journey(ops_url: str, page: Page, screenshots: Path) -> None:
    page.goto(ops_url + "/")
    page.fill("#booking_id", "bk-7001")
    page.press("#booking_id", "Enter")
    page.wait_for_url("**/bookings/bk-7001")

    events = page.inner_text("#events")
    assert events.index("booking.created") < events.index("booking.rescheduled")
    plan = page.inner_text("#plan")
    assert "treatment-reminder" in plan
    deliveries = page.inner_text("#deliveries")
    assert "sent" in deliveries and "failed" in deliveries
    assert "j***@example.com does not exist" in deliveries
    assert "+4477...123" in page.inner_text("#booking-dr-jenny")
    assert_masked(page.content())
    page.screenshot(path=str(screenshots / "ops-booking.png"), full_page=True)


def test_the_json_behind_the_page_is_masked_and_says_what_is_missing(ops_url: str) -> None:
    with urllib.request.urlopen(ops_url + "/api/bookings/bk-8100") as response:
        raw = response.read().decode()
    journey = json.loads(raw)
    assert journey["found"] and journey["down"] == {}
    assert [b["clinic_id"] for b in journey["bookings"]] == ["leeds-vein"]
    assert {d["channel"] for d in journey["deliveries"]} == {"sms"}
    assert_masked(raw)

    with urllib.request.urlopen(ops_url + "/api/overview") as response:
        raw = response.read().decode()
    overview = json.loads(raw)
    leeds = next(r for r in overview["reconciliation"] if r["clinic_id"] == "leeds-vein")
    assert leeds["missing"] == 1 and leeds["difference"] == 1
    assert len(overview["dead_letters"]) == 2
    assert_masked(raw)
