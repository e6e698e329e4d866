"""The worker's web views without Faust's web server: the token, and masked plans."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Scheduler
from services.reminders.worker.membership import Member
from services.reminders.worker.views import add_views
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


MEMBER = Member("2", "http://worker-2:6066", partitions=4, instance="i-2")


def views(owned: list[int] | None = None) -> Pages:
    """The views of a worker holding ``owned`` (default: partitions 0 and 1, indexed)."""
    patients: dict[str, Any] = {}
    scheduler = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: ClinicPolicy())
    scheduler.apply(event(booking("bk-1", "p-42")), 0, BOOKED_AT)
    scheduler.rebuild([0, 1])
    app = Pages()
    clock = ManualClock(BOOKED_AT)
    held = [0, 1] if owned is None else owned
    metrics = PlatformMetrics("t")
    add_views(app, patients, scheduler, clock, metrics, lambda: held, TOKEN, MEMBER)  # type: ignore[arg-type]
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


def test_stats_name_the_worker_and_the_partitions_its_counts_cover() -> None:
    stats = ask(views(), "/reminders/stats", f"Bearer {TOKEN}").body
    assert stats["worker"] == {"id": "2", "url": "http://worker-2:6066", "instance": "i-2"}
    assert stats["counted"] == [0, 1] and stats["partitions"] == [0, 1]
    assert stats["partitions_total"] == 4 and stats["pending"] > 0


def test_a_worker_that_lost_a_partition_it_still_counts_stands_for_none() -> None:
    """Partition 1 was taken away and not yet indexed again: its plans are still counted."""
    app = views(owned=[0])
    assert ask(app, "/reminders/stats", f"Bearer {TOKEN}").body["counted"] == []
    plan = ask(app, "/reminders/bookings/{booking_id}", f"Bearer {TOKEN}", booking_id="bk-1")
    assert plan.status == 404 and plan.body["counted"] == []
    assert plan.body["worker"]["instance"] == "i-2"


def test_a_worker_given_a_partition_it_has_not_indexed_counts_the_ones_it_has() -> None:
    stats = ask(views(owned=[0, 1, 2]), "/reminders/stats", f"Bearer {TOKEN}").body
    assert stats["counted"] == [0, 1] and stats["partitions"] == [0, 1, 2]
