"""The due-time window: memory lists the near term, the table holds the rest, and a
reminder due beyond the window still goes out on time, across restarts and rebalances."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Scheduler
from services.shared.events import Booking
from tests.unit.reminders.factories import BOOKED_AT, START, booking, event, fire

REGISTRY = ProtocolRegistry.builtin()
POLICY = ClinicPolicy(attendance="reported")
WINDOW = timedelta(hours=6)
STEP = timedelta(minutes=20)
END = START + timedelta(days=32)


def scheduler(patients: dict[str, bytes], window: timedelta | None = WINDOW) -> Scheduler:
    return Scheduler(patients, REGISTRY, lambda _: POLICY, bucket_seconds=60, window=window)


def walk(
    s: Scheduler, start: datetime, end: datetime, partition: int = 0, seconds: float | None = 0.0
) -> list[tuple[datetime, str]]:
    """Tick every 20 minutes, a refill step before each as the worker takes one; what went out,
    as (tick time, reminder id)."""
    out = []
    now = start
    while now <= end:
        s.refill(now, seconds)
        out += [(now, due.reminder_id) for due in fire(s, partition, now).emitted]
        now += STEP
    return out


def book(s: Scheduler, n: int, now: datetime, partition: int = 0) -> dict[str, datetime]:
    """Patient ``n``'s appointment, spread over 30 days from START, booked at ``now``; when
    each of its reminders is due."""
    made: Booking = booking(
        f"bk-{n}", f"p-{n}", start=START + timedelta(hours=7 * n % (30 * 24)), booked_at=now
    )
    s.apply(event(made), partition, now)
    return {r.reminder_id: r.due_at for r in plan_patient([made], REGISTRY, POLICY)}


def assert_each_on_time(sent: list[tuple[datetime, str]], due: dict[str, datetime]) -> None:
    """Every reminder went out once, at the first tick at or after it fell due."""
    assert sorted(rid for _, rid in sent) == sorted(due)
    for now, rid in sent:
        assert due[rid] <= now < due[rid] + STEP, (rid, due[rid], now)


def test_only_what_falls_due_within_the_window_is_listed_in_memory() -> None:
    patients: dict[str, bytes] = {}
    windowed = scheduler(patients)
    windowed.rebuild([0], BOOKED_AT)
    for n in range(100):
        book(windowed, n, BOOKED_AT)
    everything = scheduler(dict(patients), window=None)
    everything.rebuild([0])
    assert len(everything.index) == 300  # three reminders each before the appointment
    assert len(windowed.index) < 30
    assert windowed.index.horizon == (BOOKED_AT + WINDOW).timestamp() // 60 * 60


def test_reminders_due_beyond_the_window_go_out_on_time() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    s.rebuild([0], BOOKED_AT)
    due: dict[str, datetime] = {}
    for n in range(120):
        due |= book(s, n, BOOKED_AT)
    assert sum(at > BOOKED_AT + WINDOW for at in due.values()) > 0.9 * len(due)
    assert_each_on_time(walk(s, BOOKED_AT, END), due)


def test_a_refill_read_in_steps_while_bookings_arrive_misses_none() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    s.rebuild([0], BOOKED_AT)
    due: dict[str, datetime] = {}
    for n in range(300):  # a step reads 64 plans: a refill takes several
        due |= book(s, n, BOOKED_AT)
    sent: list[tuple[datetime, str]] = []
    now = BOOKED_AT
    for n in range(300, 330):  # one more booking each tick, between the steps of a refill
        s.refill(now, 0.0)
        sent += [(now, d.reminder_id) for d in fire(s, 0, now).emitted]
        due |= book(s, n, now)
        now += STEP
    assert_each_on_time(sent + walk(s, now, END), due)


def test_a_restart_and_a_rebalance_read_from_the_table_what_the_window_brings() -> None:
    patients: dict[str, bytes] = {}
    first = scheduler(patients)
    first.rebuild([0, 1], BOOKED_AT)
    due: dict[str, datetime] = {}
    for n in range(80):
        due |= book(first, n, BOOKED_AT, partition=n % 2)
    restart, rebalance = BOOKED_AT + timedelta(days=10), START + timedelta(days=5)
    sent = walk(first, BOOKED_AT, restart, 0) + walk(first, BOOKED_AT, restart, 1)
    restarted = scheduler(patients)  # both partitions again
    restarted.rebuild([0, 1], restart + STEP)
    sent += walk(restarted, restart + STEP, rebalance, 0)
    sent += walk(restarted, restart + STEP, rebalance, 1)
    other = scheduler(patients)  # a second worker joins and takes partition 1
    other.rebuild([1], rebalance + STEP)
    restarted.rebuild([0], rebalance + STEP)
    sent += walk(restarted, rebalance + STEP, END, 0) + walk(other, rebalance + STEP, END, 1)
    assert_each_on_time(sent, due)


def test_a_worker_that_fell_behind_its_window_lists_the_rest_before_it_fires() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    s.rebuild([0], BOOKED_AT)
    due = book(s, 1, BOOKED_AT)
    later = {rid: at for rid, at in due.items() if at > BOOKED_AT + WINDOW}
    assert later, "due beyond the window when booked"
    last = max(later.values())
    fired = fire(s, 0, last)  # no tick for weeks (a paused worker): no refill step ran
    assert {d.reminder_id for d in fired.emitted} == set(due)


def test_without_a_window_everything_is_listed_and_nothing_is_read_again() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients, window=None)
    s.rebuild([0], BOOKED_AT)
    due = book(s, 1, BOOKED_AT)
    assert s.index.horizon is None
    assert len(s.index) == len(due)
    patients.clear()  # a refill would find nothing: what fires came from memory
    s.refill(START, None)
    assert len(s.index) == len(due)


def test_plans_discarded_mid_refill_leave_nothing_listed_until_the_next_rebuild() -> None:
    patients: dict[str, bytes] = {}
    s = scheduler(patients)
    s.rebuild([0], BOOKED_AT)
    due: dict[str, datetime] = {}
    for n in range(300):
        due |= book(s, n, BOOKED_AT)
    half = BOOKED_AT + WINDOW
    s.refill(half, 0.0)  # a refill under way
    s.forget_index()  # the changelog did not back the plans: discarded
    s.refill(half + STEP, None)
    assert len(s.index) == 0 and s.index.partitions == frozenset()
    s.rebuild([0], half + STEP)
    assert_each_on_time(walk(s, half + STEP, END), {r: at for r, at in due.items() if at > half})
