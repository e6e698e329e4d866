"""The page and its JSON over in-memory sources: masking, and sources that are down."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.booking.store.queries import StoredBooking
from services.ops.kafka_state import PartitionLag
from services.ops.web.app import create_app
from services.ops.web.broker import DeadLetterRow
from services.ops.web.worker import WorkerAnswer
from services.shared.clock import ManualClock
from tests.support.ops_auth import VIEWER, log_in_client, make_auth
from tests.unit.ops_web.fakes import NOW, FakeSources, due, hours_ago, row
from tests.unit.reminders.factories import booking

PHONE = "+447700900123"


@pytest.fixture
def client(tmp_path: Path) -> Callable[[FakeSources], TestClient]:
    """A test client of the page over the given sources, logged in as a viewer."""

    def made(sources: FakeSources) -> TestClient:
        web = TestClient(create_app(sources, ManualClock(NOW), make_auth(tmp_path)))
        log_in_client(web, VIEWER)
        return web

    return made


def test_every_source_down_still_gives_a_page_that_names_them(
    client: Callable[[FakeSources], TestClient],
) -> None:
    sources = FakeSources(down={"delivery ledger", "due topic", "dead letters", "booking store"})
    sources.plan = WorkerAnswer(note="reminders worker at http://127.0.0.1:6066 not readable")
    web = client(sources)

    page = web.get("/")
    assert page.status_code == 200
    assert "delivery ledger" in page.text and "Some sources could not be read" in page.text
    body = web.get("/api/overview").json()
    assert set(body["down"]) == {"delivery ledger", "due topic", "dead letters"}

    journey = web.get("/bookings/bk-1")
    assert journey.status_code == 404 and "reminders worker" in journey.text
    assert "booking store" in web.get("/api/bookings/bk-1").json()["down"]


def test_an_unreachable_broker_is_said_once_and_nothing_is_read_from_it(
    client: Callable[[FakeSources], TestClient],
) -> None:
    sources = FakeSources(reachable=False, down={"due topic", "dead letters"})
    body = client(sources).get("/api/overview").json()
    assert body["down"] == {"broker": "no Kafka broker answered at 127.0.0.1:9"}


def test_phone_numbers_and_emails_are_masked_in_html_and_json(
    client: Callable[[FakeSources], TestClient],
) -> None:
    reason = f"Twilio 21610: {PHONE} unsubscribed; copy to jane@example.com"
    sources = FakeSources(
        rows=[row("r1", "failed", hours_ago(1), reason=reason)],
        due=[due("r1", hours_ago(1))],
        letters=[
            DeadLetterRow(
                "notifications:0:3",
                "notifications",
                "notifier",
                "due",
                None,
                reason,
                NOW - timedelta(minutes=5),
                f'{{"phone": "{PHONE}"}}',
            )
        ],
    )
    web = client(sources)
    for path in ("/", "/api/overview", "/bookings/bk-1", "/api/bookings/bk-1"):
        text = web.get(path).text
        assert PHONE not in text and "jane@example.com" not in text, path
        assert "+4477...123" in text, path


def test_a_booking_id_that_cannot_be_one_is_refused_naming_the_field(
    client: Callable[[FakeSources], TestClient],
) -> None:
    web = client(FakeSources())
    answer = web.get("/api/bookings/bad id!")
    assert answer.status_code == 422 and "booking_id" in answer.json()["detail"]
    assert web.get("/bookings", params={"booking_id": "<script>"}).status_code == 422
    assert "&lt;script&gt;" in web.get("/bookings", params={"booking_id": "<script>"}).text
    found = web.get("/bookings", params={"booking_id": " bk-1 "}, follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == "/bookings/bk-1"


def test_metrics_give_consumer_lag_per_partition_and_the_outbox_backlog(
    client: Callable[[FakeSources], TestClient],
) -> None:
    sources = FakeSources(
        lag=[PartitionLag("clinic-notifier", "clinic.reminders.due.v1", 2, committed=40, end=47)],
        outbox=3,
    )
    scraped = client(sources).get("/metrics").text
    assert (
        'clinic_consumer_lag{group="clinic-notifier",partition="2",'
        'topic="clinic.reminders.due.v1"} 7.0'
    ) in scraped
    assert "clinic_outbox_backlog 3.0" in scraped
    assert "clinic_broker_up 1.0" in scraped


def test_the_journey_asks_the_worker_for_one_patients_plan_when_the_store_knows_the_booking(
    client: Callable[[FakeSources], TestClient],
) -> None:
    made = booking("bk-1", "p-7")
    sources = FakeSources(stored=[StoredBooking(made, [])])
    client(sources).get("/api/bookings/bk-1")
    assert sources.plan_asked == [("bk-1", "dr-jenny", "p-7")]
    unknown = FakeSources()
    client(unknown).get("/api/bookings/bk-2")
    assert unknown.plan_asked == [("bk-2", None, None)]
