"""The ``/metrics`` server on loopback, scraped over HTTP as Prometheus does."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from services.shared.metrics import PlatformMetrics, start_metrics_server

pytestmark = pytest.mark.integration


def test_a_scrape_returns_the_exposition_text_with_recorded_values() -> None:
    metrics = PlatformMetrics("booking")
    metrics.record_produced("clinic.bookings.v1", 5)
    metrics.outbox_backlog.set(2)
    server = start_metrics_server(metrics, 0)
    try:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = response.read().decode()
    finally:
        server.stop()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    produced = (("service", "booking"), ("topic", "clinic.bookings.v1"))
    assert samples[("clinic_events_produced_total", produced)] == 5
    assert samples[("clinic_outbox_backlog", ())] == 2
    assert "# TYPE clinic_provider_latency_seconds histogram" in text


def test_a_stopped_server_frees_its_port() -> None:
    server = start_metrics_server(PlatformMetrics("x"), 0)
    port = server.port
    server.stop()
    again = start_metrics_server(PlatformMetrics("y"), port)
    again.stop()
