"""The booking REST API: thin handlers over :class:`BookingService`.

Built by :func:`create_app`; nothing connects at import time.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.booking.http import errors as http_errors
from services.booking.http import fhir_push, openapi, routes
from services.booking.http.auth import ClinicKeys
from services.booking.service import BookingService
from services.booking.settings import BookingSettings
from services.booking.sources.fhir.inbox import FhirInbox
from services.booking.sources.webhooks import MappingFolder
from services.booking.store.store import BookingStore
from services.shared.body_limit import BodyLimit
from services.shared.clock import Clock
from services.shared.metrics import PlatformMetrics


def create_app(
    settings: BookingSettings,
    store: BookingStore,
    clock: Clock,
    notify: Callable[[], None] | None = None,
    backlog: Callable[[], int] | None = None,
    metrics: PlatformMetrics | None = None,
) -> FastAPI:
    """The booking API over ``store``.

    Args:
        notify: called after each newly committed event (wakes the relay).
        backlog: how many events wait to be published (for ``/healthz``);
            defaults to the store's outbox count.
    """
    service = BookingService.from_settings(settings, store, clock, notify)
    app = FastAPI(
        title="Clinic reminders: booking service",
        version="1",
        description="Bookings in: validated, stored, and published to "
        "clinic.bookings.v1 through a transactional outbox. "
        "When API keys are configured, send yours in X-API-Key; "
        "a key acts for its own clinic only.",
    )
    app.state.service = service
    app.state.keys = ClinicKeys(settings.booking_api_keys)
    app.state.backlog = backlog or store.outbox.backlog
    app.state.webhooks = MappingFolder(
        settings.booking_webhook_dir or settings.var_dir / "webhooks"
    )
    app.state.fhir_clinics = frozenset(server.clinic_id for server in settings.booking_fhir_servers)
    app.state.fhir_inbox = FhirInbox(store.engine) if app.state.fhir_clinics else None
    app.state.fhir_wake = lambda: None  # the booking service's FHIR poller, once it runs
    http_errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.booking_max_body_bytes)
    app.include_router(routes.router)
    app.include_router(fhir_push.router)
    app.openapi = openapi.with_booking_request(app)  # type: ignore[method-assign]
    if metrics is not None:
        _serve_metrics(app, metrics, app.state.backlog)
    return app


def _serve_metrics(app: FastAPI, metrics: PlatformMetrics, backlog: Callable[[], int]) -> None:
    """``GET /metrics`` in Prometheus' text format; the outbox backlog is read at each scrape."""

    @app.get("/metrics", include_in_schema=False)
    def scrape() -> Response:
        metrics.outbox_backlog.set(backlog())
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
