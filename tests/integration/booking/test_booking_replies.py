"""The booking service's reply follower on the real broker: a confirmation on the replies
topic becomes booking.confirmed on the bookings topic, once, however often it is read."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.publishing.relay import OutboxRelay
from services.booking.publishing.replies import Confirmations, ReplyFollower
from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock
from services.shared.events import BookingEvent, PatientReplied, ReplyIntent, decode, encode
from services.shared.topics import Topics
from tests.integration.booking.conftest import NOW, read_topic
from tests.support.booking_service import BOOKING
from tests.support.kafka import produce

pytestmark = pytest.mark.integration


def confirmation(sid: str) -> PatientReplied:
    return PatientReplied(
        message_sid=sid,
        clinic_id="dr-jenny",
        booking_id="bk-1001",
        patient_id="p-42",
        intent=ReplyIntent.CONFIRM,
        word="C",
        received_at=NOW,
    )


def test_a_confirmation_on_the_replies_topic_is_published_as_booking_confirmed(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path, clock: ManualClock
) -> None:
    store = BookingStore(f"sqlite:///{tmp_path}/booking.db")
    settings = BookingSettings(var_dir=tmp_path, topic_prefix=topics.prefix)
    relay = OutboxRelay(store, broker.bootstrap, clock, poll_seconds=0.05)
    client = TestClient(create_app(settings, store, clock, notify=relay.wake))
    assert client.post("/v1/bookings", json=BOOKING).status_code == 201
    service: BookingService = client.app.state.service  # type: ignore[attr-defined]
    follower = ReplyFollower(
        Confirmations(service), broker.bootstrap, topics.replies, group_id, 6_000
    )
    for sid in ("SM1", "SM1", "SM2"):  # a redelivery, then a second C
        reply = confirmation(sid)
        produce(broker.bootstrap, topics.replies, reply.key, encode(reply))
    relay.start()
    follower.start()
    try:
        records = read_topic(broker.bootstrap, topics.bookings, 2, timeout=30)
        time.sleep(1.0)  # long enough for a duplicate to show
        records = read_topic(broker.bootstrap, topics.bookings, 2)
    finally:
        follower.stop()
        relay.stop()
        store.close()
    events = [decode(BookingEvent, value) for _, _, value in records]
    assert [e.type.value for e in events] == ["booking.created", "booking.confirmed"]
    assert {key for _, key, _ in records} == {b"dr-jenny:p-42"}
    assert events[1].source == "sms-reply" and events[1].data == events[0].data
