"""The ops page in headless Chromium, over real stores, the real broker and a worker view."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.integration.ops_web.history import EMAIL, PHONE
from tests.support.ops_auth import SCRIPT_TOKEN, VIEWER, log_in_browser

pytestmark = pytest.mark.integration
SCRIPTS = {"Authorization": f"Bearer {SCRIPT_TOKEN}"}


def assert_masked(html: str) -> None:
    assert PHONE not in html, "a raw phone number is on the page"
    assert EMAIL not in html, "a raw email address is on the page"


def test_overview_shows_outcomes_reconciliation_and_dead_letters(
    ops_url: str, page: Page, screenshots: Path
) -> None:
    log_in_browser(page, ops_url, VIEWER)

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
    log_in_browser(page, ops_url, VIEWER)
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
    asked = urllib.request.Request(ops_url + "/api/bookings/bk-8100", headers=SCRIPTS)
    with urllib.request.urlopen(asked) as response:
        raw = response.read().decode()
    journey = json.loads(raw)
    assert journey["found"] and journey["down"] == {}
    assert [b["clinic_id"] for b in journey["bookings"]] == ["leeds-vein"]
    assert {d["channel"] for d in journey["deliveries"]} == {"sms"}
    assert_masked(raw)

    asked = urllib.request.Request(ops_url + "/api/overview", headers=SCRIPTS)
    with urllib.request.urlopen(asked) as response:
        raw = response.read().decode()
    overview = json.loads(raw)
    leeds = next(r for r in overview["reconciliation"] if r["clinic_id"] == "leeds-vein")
    assert leeds["missing"] == 1 and leeds["difference"] == 1
    assert len(overview["dead_letters"]) == 2
    assert_masked(raw)
