"""The ops views with two real reminders workers on the real broker.

One pair of workers for the module (starting one is slow): the first takes
every partition and plans twelve patients, the second joins and takes half of
them, and at the end the second is killed. The console is pointed at the first
only; it finds the second on the workers topic. Pending and due-soon counts
(in ``clinic-reminders status`` and on the console) are right, or unknown with
a note, at every look: while partitions move, and while a dead worker's
partitions wait for a new owner. A booking's plan is found whichever worker
holds it.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka.partitioner.default import murmur2

from services.booking.service import BookingService
from services.booking.store.store import BookingStore
from services.cli import main
from services.notifier.delivery.ledger import DeliveryLedger
from services.ops.kafka_io import read_all
from services.ops.settings import OpsSettings
from services.ops.status import worker_counts
from services.ops.web.app import create_app
from services.ops.web.gather import booking as journey
from services.ops.web.settings import OpsWebSettings
from services.ops.web.sources import LiveSources
from services.ops.worker_merge import partitions_text
from services.ops.worker_registry import registered, worker_addresses
from services.ops.worker_stats import WorkerCounts
from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.shared.broker import EmbeddedBroker, free_port
from services.shared.clock import ManualClock, ScaledClock
from services.shared.events import BookingEvent
from services.shared.topics import Topics, ensure_topics
from tests.integration.ops_web.browser import headless_chromium, serving
from tests.integration.reminders.worker import WEB_TOKEN, Worker, publish
from tests.support.bookings import booking_request
from tests.support.ops_auth import VIEWER, log_in_browser, make_auth

pytestmark = pytest.mark.integration

START = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
"""A Friday noon in London: no quiet hours for the plans to wait out."""
PATIENTS = [f"p-w{n}" for n in range(12)]
HOUR = timedelta(hours=1)
FEW_MINUTES = timedelta(minutes=5)
"""Longer than the module takes."""


@dataclass
class Platform:
    """Two workers over the same plans, and what the ops tools should find."""

    bootstrap: str
    topics: Topics
    var_dir: Path
    clock: ScaledClock
    first: Worker
    second: Worker
    pending: int
    due_soon: int
    looks: list[WorkerCounts] = field(default_factory=list)
    """Every look the ops tools took while the second worker joined."""

    def settings(self) -> OpsWebSettings:
        """The console's settings: pointed at the first worker only."""
        return OpsWebSettings(
            bootstrap_servers=self.bootstrap,
            topic_prefix=self.topics.prefix,
            var_dir=self.var_dir,
            worker_web_port=int(self.first.env["CLINIC_WORKER_WEB_PORT"]),
            worker_web_token=WEB_TOKEN,
        )

    def holder(self, booking_id: str, patient_id: str) -> Worker:
        """The worker whose own view shows the plan."""
        path = f"/reminders/bookings/{booking_id}?clinic=dr-jenny&patient={patient_id}"
        found = []
        for worker in (self.first, self.second):
            try:
                found.append((worker, worker.view(path)))
            except OSError:
                continue
        assert len(found) == 1, f"{booking_id} is held by {len(found)} workers"
        return found[0][0]

    def one_held_by(self, worker: Worker) -> str:
        """A booking whose plan ``worker`` holds."""
        return next(
            f"bk-w{n}" for n, p in enumerate(PATIENTS) if self.holder(f"bk-w{n}", p) is worker
        )


def expected(events: list[BookingEvent], now: datetime) -> tuple[int, int]:
    """Pending and due within the hour of plans booked at ``now``. Those due on booking go out
    at once; no other may fall due during the module (nor enter the hour), or the counts would
    move under the test."""
    registry = ProtocolRegistry.builtin()
    made = [e.data.model_copy(update={"booked_at": e.occurred_at}) for e in events]
    planned = [r.due_at for b in made for r in plan_patient([b], registry, ClinicPolicy())]
    dues = [d for d in planned if d > now]
    moving = [(now, now + FEW_MINUTES), (now + HOUR, now + HOUR + FEW_MINUTES)]
    assert not [d for d in dues for lo, hi in moving if lo <= d <= hi], "a due time moves"
    return len(dues), sum(d <= now + HOUR for d in dues)


def book(store_url: str, topics: Topics, now: datetime) -> list[BookingEvent]:
    """Twelve patients through the booking service: half booked ten days ahead, half for a
    visit that began 15 minutes ago (its aftercare is due in 30 minutes)."""
    store = BookingStore(store_url)
    service = BookingService(store, ManualClock(now), topics.bookings, {"microsclerotherapy"})
    for n, patient in enumerate(PATIENTS):
        ahead = timedelta(minutes=-15) if n % 2 else timedelta(days=10)
        service.create(
            booking_request({"id": patient}, booking_id=f"bk-w{n}", start=(now + ahead).isoformat())
        )
    events = [e for n in range(len(PATIENTS)) for e in store.history("dr-jenny", f"bk-w{n}")]
    store.close()
    return events


def merged(settings: OpsSettings) -> WorkerCounts:
    return worker_counts(settings, True, [])


def check(look: WorkerCounts, platform: Platform) -> None:
    """Right, or unknown with a note: never a number that is wrong."""
    if look.pending is None:
        assert look.due_soon is None and look.note, look
    else:
        assert (look.pending, look.due_soon, look.note) == (
            platform.pending,
            platform.due_soon,
            None,
        ), look


def settled(
    settings: OpsSettings, platform: Platform, workers: int, strict: bool = True
) -> WorkerCounts:
    """Look until the counts are right and come from ``workers`` workers; with ``strict``
    (every plan is made), check every look on the way."""
    deadline = time.monotonic() + 60
    while True:
        look = merged(settings)
        if strict:
            check(look, platform)
            platform.looks.append(look)
        counting = sum(bool(w.counted) for w in look.workers)
        if look.pending == platform.pending and counting == workers:
            return look
        assert time.monotonic() < deadline, look
        time.sleep(0.2)


@pytest.fixture(scope="module")
def platform(tansu: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    var = tmp_path_factory.mktemp("two-workers")
    topics = Topics(prefix=f"two-{time.monotonic_ns()}.")
    ensure_topics(tansu.bootstrap, topics.all(), 4, configs=topics.configs())
    assert {(murmur2(f"dr-jenny:{p}".encode()) & 0x7FFFFFFF) % 4 for p in PATIENTS} == {0, 1, 2, 3}
    clock = ScaledClock(scale=1.0, start=START)
    first = Worker(tansu.bootstrap, topics, var, clock, worker_id="1")
    second = Worker(tansu.bootstrap, topics, var, clock, worker_id="2")
    DeliveryLedger(f"sqlite:///{var}/notifier.db").close()
    now = clock.now()
    events = book(f"sqlite:///{var}/booking.db", topics, now)
    counts = expected(events, now)
    running = Platform(tansu.bootstrap, topics, var, clock, first, second, *counts)
    settings = running.settings()
    try:
        first.start().wait_ready()
        publish(tansu.bootstrap, topics.bookings, events)
        settled(settings, running, workers=1, strict=False)
        second.start()
        settled(settings, running, workers=2)
        yield running
    finally:
        second.stop()
        first.stop()


def test_status_adds_up_both_workers_and_was_never_wrong_while_partitions_moved(
    platform: Platform,
    tansu: EmbeddedBroker,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert platform.looks[-1].pending == platform.pending > 0 and platform.due_soon > 0
    settings = platform.settings()
    addresses, unread = worker_addresses(settings)
    ports = [w.env["CLINIC_WORKER_WEB_PORT"] for w in (platform.first, platform.second)]
    assert unread is None and addresses == [f"http://127.0.0.1:{port}" for port in ports]
    for name, value in {
        "CLINIC_BOOTSTRAP_SERVERS": tansu.bootstrap,
        "CLINIC_TOPIC_PREFIX": platform.topics.prefix,
        "CLINIC_VAR_DIR": str(platform.var_dir),
        "CLINIC_WORKER_WEB_PORT": platform.first.env["CLINIC_WORKER_WEB_PORT"],
        "CLINIC_WORKER_WEB_TOKEN": WEB_TOKEN,
        "COLUMNS": "200",
    }.items():
        monkeypatch.setenv(name, value)
    settled(settings, platform, workers=2)

    assert main(["status", "--json"]) == 0
    worker = json.loads(capsys.readouterr().out)["worker"]
    assert (worker["pending"], worker["due_soon"]) == (platform.pending, platform.due_soon)
    counted = [set(w["counted"]) for w in worker["workers"]]
    assert len(counted) == 2 and all(counted) and not counted[0] & counted[1]
    assert counted[0] | counted[1] == {0, 1, 2, 3}
    own = [platform.first.view("/reminders/stats"), platform.second.view("/reminders/stats")]
    assert sum(s["pending"] for s in own) == platform.pending
    assert all(0 < s["pending"] < platform.pending for s in own)

    assert main(["status"]) == 0
    screen = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "reminders workers" in screen and f"reminders pending {platform.pending}" in screen


def test_a_bookings_plan_is_found_whichever_worker_holds_it(platform: Platform) -> None:
    sources = LiveSources(platform.settings(), platform.clock)
    holders = set()
    for n, patient in enumerate(PATIENTS):
        booking_id = f"bk-w{n}"
        holder = platform.holder(booking_id, patient)
        holders.add(holder.env["CLINIC_WORKER_ID"])
        own = holder.view(f"/reminders/bookings/{booking_id}?clinic=dr-jenny&patient={patient}")
        view = journey(sources, booking_id)
        assert view["down"] == {} and view["plan_note"] is None, view
        assert view["plan"]["pending"] == own["pending"] and own["pending"], booking_id
    assert holders == {"1", "2"}


def test_the_console_shows_the_whole_count_and_a_plan_from_the_worker_it_was_not_pointed_at(
    platform: Platform, tmp_path: Path
) -> None:
    settings = platform.settings()
    settled(settings, platform, workers=2)
    theirs = platform.one_held_by(platform.second)
    app = create_app(LiveSources(settings, platform.clock), platform.clock, make_auth(tmp_path))
    with serving(app, free_port()) as url, headless_chromium() as page:
        log_in_browser(page, url, VIEWER)
        kpi = page.locator(".kpi", has_text="Pending in workers").locator(".value")
        assert kpi.inner_text() == str(platform.pending)
        soon = page.locator(".kpi", has_text="Due in the next hour").locator(".value")
        assert soon.inner_text() == str(platform.due_soon)
        assert page.locator("#sources-down").count() == 0
        page.goto(f"{url}/bookings/{theirs}")
        plan = page.inner_text("#plan")
        assert "aftercare-today" in plan and "aftercare-hot-baths" in plan
        assert "could not be read" not in plan


def test_a_dead_workers_part_is_unknown_until_the_other_takes_it_over_and_a_stop_unregisters(
    platform: Platform, tansu: EmbeddedBroker
) -> None:
    settings = platform.settings()
    look = settled(settings, platform, workers=2)
    lost = next(w.counted for w in look.workers if w.worker_id == "2")
    theirs = platform.one_held_by(platform.second)
    platform.second.stop(signal.SIGKILL)

    look = merged(settings)
    assert look.pending is None and look.note, look
    assert f"{partitions_text(list(lost))} are not counted" in look.note, look.note
    assert f"{platform.second.env['CLINIC_WORKER_WEB_PORT']}/reminders/stats" in look.note
    plan = journey(LiveSources(settings, platform.clock), theirs)
    assert "the plan is not known" in plan["down"]["reminders worker"], plan
    assert not plan["plan"]["pending"]

    alone = settled(settings, platform, workers=1)
    assert alone.workers[0].counted == (0, 1, 2, 3)
    plan = journey(LiveSources(settings, platform.clock), theirs)
    assert plan["down"] == {} and plan["plan"]["pending"], plan

    platform.first.stop()
    left = registered(read_all(tansu.bootstrap, platform.topics.workers))
    assert left == [f"http://127.0.0.1:{platform.second.env['CLINIC_WORKER_WEB_PORT']}"]
