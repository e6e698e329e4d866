"""Two-way SMS on the real broker: a patient's C through the notifier's signed webhook becomes
booking.confirmed in the booking service; R, free text and CANCEL land in the replies inbox;
a replayed signed request changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.notifier.bookings.seen import BookingsSeen
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import ReplyKind, replies
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock
from services.shared.database import make_engine
from services.shared.events import BookingEvent, BookingEventType, Channel, decode
from services.shared.topics import Topics
from tests.support.booking_service import BOOKING, RunningBookings, booking_service
from tests.support.notifier_http import CLINIC_NUMBER, JANE, NOW, Running, run, settings_for
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


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
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path, database_url: str
) -> Iterator[Running]:
    yield from run(
        settings_for(broker, topics, group_id, tmp_path, notifier_database_url=database_url)
    )


def booked(bookings: RunningBookings, notifier: Running) -> None:
    """Jane's booking, taken by the booking service and seen by the notifier."""
    assert bookings.api.post("/v1/bookings", json=BOOKING).status_code == 201
    seen = BookingsSeen(notifier.settings.database_url)
    try:
        wait_until(lambda: seen.for_phone("dr-jenny", JANE, NOW) is not None, "notifier sees it")
    finally:
        seen.close()


def sms(body: str, sid: str) -> dict[str, str]:
    return {"From": JANE, "To": CLINIC_NUMBER, "Body": body, "MessageSid": sid}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_c_confirms_the_booking_through_the_booking_service(
    bookings: RunningBookings, notifier: Running
) -> None:
    booked(bookings, notifier)
    answer = notifier.post("/v1/twilio/inbound", sms("C", "SM" + "1" * 32))
    assert answer.status_code == 200, answer.text
    assert "Thank you, your appointment is confirmed." in answer.text
    wait_until(
        lambda: bookings.event_types("bk-1001") == ["booking.created", "booking.confirmed"],
        "booking.confirmed in the booking's events",
    )
    again = notifier.post("/v1/twilio/inbound", sms("C", "SM" + "1" * 32))
    assert again.text == answer.text
    published = notifier.read(notifier.settings.topics.bookings)
    try:
        events = [decode(BookingEvent, raw) for raw in published.wait_for(2)]
    finally:
        published.close()
    assert [e.type for e in events] == [BookingEventType.CREATED, BookingEventType.CONFIRMED]
    assert events[1].data.status.value == "booked" and events[1].data.schedule_version == 1
    assert bookings.event_types("bk-1001") == ["booking.created", "booking.confirmed"]


def test_r_free_text_and_cancel_land_in_the_inbox_and_a_replay_changes_nothing(
    bookings: RunningBookings, notifier: Running
) -> None:
    booked(bookings, notifier)
    for body, sid in (("R", "SMr"), ("Running 10 min late, sorry", "SMtext"), ("CANCEL", "SMstop")):
        assert notifier.post("/v1/twilio/inbound", sms(body, sid)).status_code == 200
    assert notifier.post("/v1/twilio/inbound", sms("START", "SMstart")).status_code == 200
    replayed = notifier.post("/v1/twilio/inbound", sms("CANCEL", "SMstop"))
    assert replayed.status_code == 200
    engine = make_engine(notifier.settings.database_url)
    try:
        with engine.connect() as conn:
            inbox = {r.message_sid: r for r in replies(conn, "dr-jenny")}
    finally:
        engine.dispose()
    assert [(sid, r.kind) for sid, r in sorted(inbox.items())] == [
        ("SMr", ReplyKind.REARRANGE),
        ("SMstop", ReplyKind.OPTED_OUT),
        ("SMtext", ReplyKind.MESSAGE),
    ]
    assert {r.booking_id for r in inbox.values()} == {"bk-1001"}
    assert "opted out of texts (replied CANCEL)" in inbox["SMstop"].summary
    registry = ConsentRegistry(notifier.settings.database_url)
    try:
        latest = registry.latest(JANE, "dr-jenny", Channel.SMS)
    finally:
        registry.close()
    assert latest is not None and latest.granted and latest.keyword == "START"
    assert bookings.event_types("bk-1001") == ["booking.created"]
