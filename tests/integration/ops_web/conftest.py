"""The ops console over a day of real history, served for real, and a Chromium page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page

from services.ops.audit import AuditLog
from services.ops.web.app import create_app
from services.ops.web.settings import OpsWebSettings
from services.ops.web.sources import LiveSources
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.clock import ManualClock
from services.shared.topics import Topics
from tests.integration.ops_web.browser import headless_chromium, serving
from tests.integration.ops_web.history import (
    NOW,
    History,
    background,
    book,
    plan_and_emit,
    publish,
    record_outcomes,
)
from tests.integration.ops_web.worker_view import TOKEN, worker_views
from tests.support.ops_auth import SCRIPT_TOKEN, make_auth

DOCS_IMAGES = Path(__file__).resolve().parents[3] / "docs" / "images"


@dataclass(frozen=True)
class Console:
    url: str
    audit: AuditLog


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where screenshots go: the test's own folder, or docs/images with UPDATE_SCREENSHOTS=1."""
    return DOCS_IMAGES if os.environ.get("UPDATE_SCREENSHOTS") == "1" else tmp_path


@pytest.fixture
def console(broker: EmbeddedBroker, topics: Topics, tmp_path: Path) -> Iterator[Console]:
    """The ops page over a day of history written by the services' own code, behind its
    login (a viewer and an admin: tests/support/ops_auth.py), reading a worker's views
    with the worker's token."""
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
            worker_web_token=TOKEN,
        )
        clock = ManualClock(NOW)
        auth = make_auth(tmp_path, api_token=SCRIPT_TOKEN)
        app = create_app(LiveSources(settings, clock), clock, auth)
        with serving(app, free_port()) as url:
            yield Console(url, auth.audit)


@pytest.fixture
def ops_url(console: Console) -> str:
    return console.url


@pytest.fixture
def page() -> Iterator[Page]:
    with headless_chromium() as opened:
        yield opened
