"""Prometheus metrics every service can share: one registry, one ``/metrics`` server.

Nothing is served until :func:`start_metrics_server` is called. Each process
builds one :class:`PlatformMetrics` at start and passes it to what it wires.
Reasons become short labels (:func:`reason_label`) so that free-text reasons,
which may hold a phone number or an email, never reach a label.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_REASON = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,39}")


def reason_label(reason: str | None) -> str:
    """A short, bounded label for a reason: its leading word (``InvalidEvent``, ``21211``)."""
    if not reason:
        return "none"
    head = reason.strip().split(":", 1)[0].split(" ", 1)[0]
    if head.isdigit():
        return head[:10]
    return head if _REASON.fullmatch(head) else "other"


class PlatformMetrics:
    """The platform's metrics in their own registry (tests make as many as they like)."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        self.service = service
        self.registry = registry or CollectorRegistry()
        self._children: dict[tuple[Counter, str], Counter] = {}
        r = self.registry
        self.consumed = Counter(
            "clinic_events_consumed", "Records consumed", ["service", "topic"], registry=r
        )
        self.produced = Counter(
            "clinic_events_produced", "Records produced", ["service", "topic"], registry=r
        )
        self.deliveries = Counter(
            "clinic_deliveries",
            "Delivery outcomes by channel, state and reason",
            ["channel", "state", "reason"],
            registry=r,
        )
        self.provider_latency = Histogram(
            "clinic_provider_latency_seconds",
            "Time a provider call took",
            ["channel", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "clinic_consumer_lag",
            "Records not yet consumed",
            ["group", "topic", "partition"],
            registry=r,
        )
        self.ledger_backlog = Gauge(
            "clinic_ledger_backlog", "Ledger rows waiting (sending or pending)", registry=r
        )
        self.outbox_backlog = Gauge(
            "clinic_outbox_backlog", "Booking outbox rows not yet published", registry=r
        )
        self.broker_up = Gauge(
            "clinic_broker_up", "1 when the broker answered the last look, else 0", registry=r
        )
        self.reminders_pending = Gauge(
            "clinic_reminders_pending", "Reminders planned and not yet due", registry=r
        )
        self.reminders_due_soon = Gauge(
            "clinic_reminders_due_next_hour", "Reminders due within the next hour", registry=r
        )

    def record_consumed(self, topic: str, count: int = 1) -> None:
        self._per_topic(self.consumed, topic).inc(count)

    def record_produced(self, topic: str, count: int = 1) -> None:
        self._per_topic(self.produced, topic).inc(count)

    def _per_topic(self, counter: Counter, topic: str) -> Counter:
        """The counter's child for this service and topic, looked up once (called per record)."""
        child = self._children.get((counter, topic))
        if child is None:
            child = self._children[(counter, topic)] = counter.labels(self.service, topic)
        return child

    def record_delivery(self, channel: str, state: str, reason: str | None = None) -> None:
        """Count one outcome (``sent``, ``failed``, ``skipped``...), reason shortened."""
        self.deliveries.labels(channel, state, reason_label(reason)).inc()

    @contextmanager
    def time_provider(self, channel: str, provider: str) -> Iterator[None]:
        """Observe how long the ``with`` body took, whether it returned or raised."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.provider_latency.labels(channel, provider).observe(time.perf_counter() - start)

    def set_lag(self, group: str, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(group, topic, str(partition)).set(lag)


@dataclass
class MetricsServer:
    """A running ``/metrics`` HTTP server; :meth:`stop` frees its port."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_metrics_server(
    metrics: PlatformMetrics, port: int, host: str = "127.0.0.1"
) -> MetricsServer:
    """Serve ``metrics`` on ``http://host:port/metrics`` from a daemon thread.

    Returns at once; raises ``OSError`` if the port is taken. ``port=0``
    picks a free port (read it from the result).
    """
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    return MetricsServer(server, thread)


def observe_backlogs(
    metrics: PlatformMetrics,
    lag: Sequence[tuple[str, str, int, int]] = (),
    ledger_states: dict[str, int] | None = None,
    outbox: int | None = None,
    pending: int | None = None,
    due_soon: int | None = None,
) -> None:
    """Set the backlog gauges from counts the ops readers gave; None leaves a gauge as is.

    ``lag`` holds (group, topic, partition, lag); ``ledger_states`` rows per state,
    of which ``pending`` and ``sending`` are the backlog.
    """
    for group, topic, partition, value in lag:
        metrics.set_lag(group, topic, partition, value)
    if ledger_states is not None:
        metrics.ledger_backlog.set(
            ledger_states.get("pending", 0) + ledger_states.get("sending", 0)
        )
    for gauge, count in (
        (metrics.outbox_backlog, outbox),
        (metrics.reminders_pending, pending),
        (metrics.reminders_due_soon, due_soon),
    ):
        if count is not None:
            gauge.set(count)
