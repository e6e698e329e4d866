"""Ops views on the worker's web port: thin reads of the tables this worker holds.

The ``/reminders/...`` views ask for the token (``Authorization: Bearer ...``) and
mask every personal field; ``/metrics`` holds only counts and stays open to Prometheus.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from datetime import datetime, timedelta
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.reminders.schedule.schedule import Scheduler
from services.reminders.schedule.state import PatientState
from services.reminders.schedule.stats import describe, summarize
from services.reminders.worker.membership import Member, counted
from services.shared.clock import Clock
from services.shared.events import patient_key
from services.shared.fields import mask_record
from services.shared.metrics import PlatformMetrics, observe_backlogs
from services.shared.web_token import bearer_matches

Handler = Callable[..., Awaitable[Response]]
HOUR = timedelta(hours=1)


def stats_of(
    scheduler: Scheduler, now: datetime, owned: list[int], member: Member
) -> dict[str, Any]:
    """The ``/reminders/stats`` body: this worker's counts, its partitions (``partitions``,
    as held now) and the ones its counts cover (``counted``, see :func:`membership.counted`)."""
    body = summarize(scheduler.counts, *scheduler.outlook(now, HOUR), now)
    held = counted(scheduler.index.partitions, owned)
    return {**body, "partitions": owned, **member.part(held)}


def add_views(
    app: faust.App,
    patients: MutableMapping[str, bytes],
    scheduler: Scheduler,
    clock: Clock,
    metrics: PlatformMetrics,
    owned: Callable[[], list[int]],
    token: str,
    member: Member,
) -> None:
    """Add ``/reminders/stats``, ``/reminders/patients/{clinic}/{patient}`` and
    ``/reminders/bookings/{booking_id}`` (JSON), and ``/metrics`` for Prometheus.

    Each worker answers for the partitions it holds; with several workers, ask each.
    The stats and booking answers name the worker and the partitions it stands
    for (``counted``): a booking's plan is shown only from a partition counted,
    and a 404 says which partitions it was looked for in. Counts come from the
    scheduler's running totals and its due-time index, so a scrape costs the same
    with a million reminders pending as with ten. The booking view reads one plan
    when given ``?clinic=&patient=`` (the ops console passes them from the booking
    store); without them it reads the whole table, which with a large table holds
    the worker up for seconds.
    """

    def guarded(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def view(web: View, request: Request, **kwargs: str) -> Response:
            if not bearer_matches(request.headers.get("Authorization"), token):
                return web.json(
                    {"error": "this view needs the worker's token (CLINIC_WORKER_WEB_TOKEN)"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="clinic-reminders worker"'},
                )
            return await handler(web, request, **kwargs)

        return view

    @app.page("/reminders/stats")
    @guarded
    async def stats(web: View, request: Request) -> Response:
        return web.json(stats_of(scheduler, clock.now(), owned(), member))

    @app.page("/metrics")
    async def scrape(web: View, request: Request) -> Response:
        pending = scheduler.counts.as_dict()["pending"]
        due_soon, _ = scheduler.outlook(clock.now(), HOUR)
        observe_backlogs(metrics, pending=pending, due_soon=due_soon)
        return web.bytes(
            generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    @app.page("/reminders/patients/{clinic}/{patient}")
    @guarded
    async def patient(web: View, request: Request, clinic: str, patient: str) -> Response:
        value = patients.get(patient_key(clinic, patient))
        if value is None:
            return web.json({"error": "no such patient on this worker"}, status=404)
        return web.json(mask_record(describe(PatientState.from_value(value))))

    @app.page("/reminders/bookings/{booking_id}")
    @guarded
    async def booking(web: View, request: Request, booking_id: str) -> Response:
        clinic, patient = request.query.get("clinic"), request.query.get("patient")
        if clinic and patient:  # one plan read, as the ops console asks
            values: Iterable[bytes | None] = [patients.get(patient_key(clinic, patient))]
        else:
            values = patients.values()
        held = counted(scheduler.index.partitions, owned())
        for value in values:
            state = PatientState.from_value(value)
            if booking_id in state.bookings and state.partition in held:
                return web.json({**mask_record(describe(state, booking_id)), **member.part(held)})
        missing = {"error": "no such booking in the partitions this worker counts"}
        return web.json({**missing, **member.part(held)}, status=404)
