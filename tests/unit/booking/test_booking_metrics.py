"""The booking service's /metrics: the outbox backlog as Prometheus sees it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock
from services.shared.metrics import PlatformMetrics
from tests.unit.booking.conftest import Payload


def test_metrics_show_the_outbox_backlog_growing_with_each_booking(
    settings: BookingSettings, store: BookingStore, clock: ManualClock, payload: Payload
) -> None:
    client = TestClient(create_app(settings, store, clock, metrics=PlatformMetrics("booking")))
    assert "clinic_outbox_backlog 0.0" in client.get("/metrics").text
    for n in range(3):
        assert client.post("/v1/bookings", json=payload(booking_id=f"bk-{n}")).status_code == 201
    scraped = client.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    assert "clinic_outbox_backlog 3.0" in scraped.text
    assert "/metrics" not in client.get("/openapi.json").text
