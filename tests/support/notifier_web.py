"""The notifier's HTTP app in-process on real SQLite stores, for tests of its webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from services.notifier.bookings.seen import BookingsSeen
from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.http.app import WebParts, create_app
from services.notifier.http.status_callbacks import StatusCallbacks
from services.notifier.http.unsubscribe_web import UnsubscribeParts
from services.notifier.patients.email_opt_out import EmailOptOuts
from services.notifier.patients.inbound import InboundStores, InboundTexts
from services.notifier.patients.inbound_log import InboundLog
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import InboxReply, RepliesInbox, replies
from services.notifier.patients.unsubscribe import UnsubscribeLinks
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.clock import ManualClock
from services.shared.database import make_engine
from services.shared.events import BookingEvent, BookingEventType
from services.shared.metrics import PlatformMetrics
from services.shared.topics import Topics
from tests.unit.reminders.factories import booking

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TOKEN = "twilio-auth-token"
CLINIC_NUMBER = "+447700900999"
JANE = "+447700900123"
TOPICS = Topics("u.")


class Web:
    """The app wired to real stores; what it publishes is kept in ``published``."""

    def __init__(
        self, tmp_path: Path, token: str = TOKEN, links: UnsubscribeLinks | None = None
    ) -> None:
        url = self.url = f"sqlite:///{tmp_path}/notifier.db"
        self.publish_to: Callable[[str, str | None, bytes], None] | None = None
        self.clock = ManualClock(NOW)
        self.ledger = DeliveryLedger(url)
        self.registry = ConsentRegistry(url)
        self.seen = BookingsSeen(url)
        self.inbox = RepliesInbox(url)
        self.received = InboundLog(url)
        self.metrics = PlatformMetrics("notifier")
        self.published: list[tuple[str, str | None, bytes]] = []
        self.partitions: tuple[int, ...] = (0, 1)
        clinics = ClinicDirectory({"dr-jenny": ClinicInfo(name="Dr Jenny", phone="+442079460000")})
        numbers = {CLINIC_NUMBER: "dr-jenny"}
        stores = InboundStores(self.registry, self.seen, self.inbox, self.received)
        inbound = InboundTexts(stores, TOPICS, clinics, numbers, self.clock, self.publish)
        callbacks = StatusCallbacks(self.ledger, TOPICS, self.clock, self.publish, self.metrics)
        unsubscribe = None
        if links is not None:
            opt_outs = EmailOptOuts(self.registry, TOPICS, self.clock, self.publish)
            unsubscribe = UnsubscribeParts(links, opt_outs, clinics)
        parts = WebParts(
            self.ledger,
            inbound,
            callbacks,
            self.metrics,
            lambda: self.partitions,
            token,
            unsubscribe=unsubscribe,
        )
        self.client = TestClient(create_app(parts))

    def publish(self, topic: str, key: str | None, value: bytes) -> None:
        if self.publish_to is not None:
            self.publish_to(topic, key, value)
        self.published.append((topic, key, value))

    def replies(self) -> list[InboxReply]:
        """The inbox, oldest first."""
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return replies(conn)[::-1]
        finally:
            engine.dispose()

    def booked(self, **changes: Any) -> None:
        """Jane's booking bk-1001 at dr-jenny on 1 Dec, as the booking follower records it."""
        made = booking(**changes)
        event = BookingEvent(
            type=BookingEventType.CREATED, occurred_at=NOW, clinic_id="dr-jenny", data=made
        )
        self.seen.record([event], {})

    def on(self, topic: str) -> list[bytes]:
        return [value for name, _, value in self.published if name == topic]

    def post(self, path: str, form: dict[str, str], token: str = TOKEN) -> httpx.Response:
        signature = RequestValidator(token).compute_signature(f"http://testserver{path}", form)
        answer: httpx.Response = self.client.post(
            path,
            content=urlencode(form),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": signature,
            },
        )
        return answer

    def close(self) -> None:
        for store in (self.ledger, self.registry, self.seen, self.inbox, self.received):
            store.close()
