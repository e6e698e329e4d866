"""A worker's registration on the workers topic: written at start, taken back at a clean stop."""

from __future__ import annotations

import asyncio
import logging

import pytest

from services.reminders.settings import ReminderSettings
from services.reminders.worker.membership import Member, Registration
from services.shared.clock import ManualClock
from services.shared.events import decode
from services.shared.workers import WorkerRegistered
from tests.unit.reminders.factories import BOOKED_AT

MEMBER = Member("2", "http://worker-2:6066", partitions=4)


def test_joining_writes_the_address_under_its_own_key_and_leaving_a_tombstone() -> None:
    written: list[tuple[bytes, bytes | None]] = []

    async def send(key: bytes, value: bytes | None) -> None:
        written.append((key, value))

    registration = Registration(MEMBER, ManualClock(BOOKED_AT), send)
    asyncio.run(registration.join())
    asyncio.run(registration.leave())

    (key, value), tombstone = written
    assert key == b"http://worker-2:6066" and value is not None
    record = decode(WorkerRegistered, value)
    assert (record.worker_id, record.url, record.registered_at) == ("2", MEMBER.url, BOOKED_AT)
    assert tombstone == (key, None)


def test_a_registration_the_broker_does_not_take_is_logged_and_the_worker_runs_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def refused(key: bytes, value: bytes | None) -> None:
        raise ConnectionError("broker gone")

    async def stuck(key: bytes, value: bytes | None) -> None:
        await asyncio.sleep(10)

    with caplog.at_level(logging.WARNING, "clinic.reminders"):
        asyncio.run(Registration(MEMBER, ManualClock(BOOKED_AT), refused).join())
        asyncio.run(Registration(MEMBER, ManualClock(BOOKED_AT), stuck, timeout=0.05).leave())
    assert "not registered at http://worker-2:6066 (broker gone)" in caplog.text
    assert "not unregistered" in caplog.text


def test_the_address_others_reach_the_views_at() -> None:
    assert ReminderSettings(worker_web_port=6070).web_url == "http://127.0.0.1:6070"
    given = ReminderSettings(worker_web_url="http://reminders-3.internal:6066/")
    assert given.web_url == "http://reminders-3.internal:6066"
    every = ReminderSettings(worker_web_host="0.0.0.0").web_url
    assert every.startswith("http://") and "0.0.0.0" not in every
    assert ReminderSettings(worker_web_host="::1").web_url == "http://[::1]:6066"
