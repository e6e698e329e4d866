"""The worker's web views without Faust's web server: the token, and masked plans."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule import Scheduler
from services.reminders.views import add_views
from services.shared.clock import ManualClock
from services.shared.metrics import PlatformMetrics
from tests.unit.reminders.factories import BOOKED_AT, booking, event

TOKEN = "the-workers-views-token"


class Answer:
    def __init__(self, body: Any, status: int, headers: dict[str, str]) -> None:
        self.body, self.status, self.headers = body, status, headers


class Web:
    """What a view is handed as ``web``: builds responses."""

    def json(self, value: Any, *, status: int = 200, headers: Any = None) -> Answer:
        return Answer(json.loads(json.dumps(value)), status, dict(headers or {}))


class Request:
    def __init__(self, authorization: str | None = None) -> None:
        self.headers = {"Authorization": authorization} if authorization else {}
        self.query: dict[str, str] = {}


class Pages:
    """Stands in for the Faust app: keeps each page's handler by its path."""

    def __init__(self) -> None:
        self.handlers: dict[str, Callable[..., Any]] = {}

    def page(self, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def keep(handler: Callable[..., Any]) -> Callable[..., Any]:
            self.handlers[path] = handler
            return handler

        return keep


def views() -> Pages:
    patients: dict[str, Any] = {}
    scheduler = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: ClinicPolicy())
    scheduler.apply(event(booking("bk-1", "p-42")), 0, BOOKED_AT)
    app = Pages()
    clock = ManualClock(BOOKED_AT)
    add_views(app, patients, scheduler, clock, PlatformMetrics("t"), lambda: [0], TOKEN)  # type: ignore[arg-type]
    return app


def ask(app: Pages, path: str, authorization: str | None, **kwargs: str) -> Answer:
    answer: Answer = asyncio.run(app.handlers[path](Web(), Request(authorization), **kwargs))
    return answer


def test_every_reminders_view_answers_401_without_the_token() -> None:
    app = views()
    paths = {
        "/reminders/stats": {},
        "/reminders/patients/{clinic}/{patient}": {"clinic": "dr-jenny", "patient": "p-42"},
        "/reminders/bookings/{booking_id}": {"booking_id": "bk-1"},
    }
    for path, kwargs in paths.items():
        for given in (None, "Bearer wrong", f"Basic {TOKEN}", TOKEN):
            refused = ask(app, path, given, **kwargs)
            assert refused.status == 401, (path, given)
            assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert ask(app, path, f"Bearer {TOKEN}", **kwargs).status == 200, path


def test_a_plan_is_shown_with_its_personal_fields_masked() -> None:
    app = views()
    plan = ask(app, "/reminders/bookings/{booking_id}", f"Bearer {TOKEN}", booking_id="bk-1")
    patient = plan.body["bookings"][0]["patient"]
    assert patient["first_name"] == "J***" and patient["phone"] == "+4477...123"
    assert patient["email"] == "j***@example.com"
    assert plan.body["bookings"][0]["treatment"] == "(hidden)"
    assert plan.body["pending"], "the plan itself is still shown"
