"""Figures 1, 4 and 5 on one worker: throughput, memory and its growth, kill -9 and recovery."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from bench.bookings import attended_ending_at, future_bookings
from bench.cpu import CpuMeter, children_named
from bench.kafka_io import Arrivals, mean_value_bytes, raw_consume
from bench.machine import rss_mb
from bench.result import Figure
from bench.stack import PARTITIONS, Load, Stack
from bench.worker import Worker
from services.shared.events import Booking, ReminderDue, decode

TREATMENT_PENDING = 3
"""A booked treatment plans 3 reminders; an attended one 10 (its aftercare)."""
ATTENDED_PENDING = 10


THROUGHPUT_RATIO = 0.5
"""Booking events a worker plans, as a share of what its framework floor writes of them
(``bench.floor_worker``, bare: Faust as it comes, the same events, one table value each)."""
MEMORY_GROWTH = 1.5
"""A worker's RSS holding ten times the pending reminders, as a multiple of its RSS before
(ten million against one in the full run): memory follows the near term, not the backlog."""


def throughput(stack: Stack, events: int, var_dir: Path) -> Figure:
    """Booking events/s written by a worker started on a backlog, vs its framework floor.

    The ``events`` are published before the worker starts, so it reads a backlog;
    its rate runs from its first changelog write to its last. The floor
    (:mod:`bench.floor_worker`, bare) then reads the same events from a topic of its
    own, writing values of the mean size the worker wrote, timed the same way. Kept
    beside them: the tuned floor (Faust as the worker runs it, so the share of the
    worker's time its own planning takes shows) and a raw kafka-python consumer's rate.
    """
    made = future_bookings(events, "tp", stack.clock.now())
    stack.publish(made)
    began = time.time()
    stack.start()
    # The embedded broker is a child named "broker"; Apache Kafka's JVM is not metered.
    processes = {"worker": stack.worker.pid}
    processes.update(zip(["broker"], children_named("broker"), strict=False))
    meter = CpuMeter(processes)
    meter.start()
    metered = time.time()
    load = stack.wait_written(0, events, began)
    cpu = meter.stop(time.time() - metered)
    size = mean_value_bytes(stack.bootstrap, stack.changelog_topic, PARTITIONS)
    floor = framework_floor(stack, var_dir, made, size, "bare")
    tuned = framework_floor(stack, var_dir, made, size, "tuned")
    raw = raw_consume(stack.bootstrap, stack.topics.bookings, PARTITIONS, events)
    return Figure(
        "throughput",
        load.steady_rate,
        "bookings/s",
        floor.steady_rate,
        "framework-floor bookings/s",
        target=f">= {THROUGHPUT_RATIO} of the floor",
        met=load.steady_rate >= THROUGHPUT_RATIO * floor.steady_rate,
        extra={
            "events": events,
            "start_to_first_write_s": round(load.first_write_seconds, 1),
            "value_bytes": size,
            "tuned_floor_per_s": round(tuned.steady_rate),
            "of_tuned": round(load.steady_rate / tuned.steady_rate, 3),
            "raw_consume_per_s": round(raw),
            **cpu,
        },
    )


def framework_floor(stack: Stack, var_dir: Path, made: list[Booking], size: int, kind: str) -> Load:
    """The ``kind`` of floor worker's run over ``made`` on topics and a data directory of its
    own (named after ``stack``'s: a store left by a run on another broker is never
    reused), started on the backlog."""
    floor = Stack(
        stack.bootstrap,
        f"{stack.name}-floor-{kind}",
        var_dir,
        module="bench.floor_worker",
        extra_env={"FLOOR_VALUE_BYTES": str(size), "FLOOR_KIND": kind},
    )
    try:
        floor.publish(made)
        began = time.time()
        floor.start()
        return floor.wait_written(0, len(made), began)
    finally:
        floor.close()


def memory(stack: Stack, idle: float, pending: int, start_pending: int) -> Figure:
    """Worker RSS once ``pending`` reminders wait (attended bookings months ahead added),
    against the RSS of a worker that holds nothing."""
    more = max(0, (pending - start_pending) // ATTENDED_PENDING)
    made = future_bookings(more, f"mem{pending}", stack.clock.now(), attended=True)
    load = stack.load(made, timeout=max(900.0, more / 200))  # ten million: 900,000 bookings
    time.sleep(2)
    rss = rss_mb(stack.worker.pid)
    held = start_pending + more * ATTENDED_PENDING
    return Figure(
        f"memory-{held // 1000}k",
        rss,
        "MB RSS",
        idle,
        "idle-MB",
        extra={
            "pending": held,
            "growth_MB_per_million": round((rss - idle) / held * 1e6),
            "load_rate": round(load.rate),
        },
    )


def memory_growth(smaller: Figure, larger: Figure) -> Figure:
    """RSS holding ``larger``'s pending reminders against RSS holding ``smaller``'s."""
    times = larger.extra["pending"] / smaller.extra["pending"]
    return Figure(
        "memory-growth",
        larger.value,
        f"MB RSS with {larger.extra['pending']:,} pending",
        smaller.value,
        f"MB-with-{smaller.extra['pending']:,}",
        target=f"<= {MEMORY_GROWTH} x with {times:.0f} x the pending",
        met=larger.value <= MEMORY_GROWTH * smaller.value,
    )


RECOVERY_RATIO = 1.5
"""kill -9 to emitting again, as a multiple of a bare Faust app's start to ready on the
same table (its floor)."""


def recovery(stack: Stack, pending: int, var_dir: Path, sentinels: int = 400) -> Figure:
    """kill -9 with ``pending`` waiting; real seconds until due reminders flow again,
    against the floor: a bare Faust app (:mod:`bench.floor_worker`) started on a copy of
    the worker's data directory as the kill left it, same table, same changelog.

    Reminders fall due every ~0.1 s from a few seconds after they are booked, so
    the first one emitted after the kill marks the worker as emitting again.
    """
    arrivals = Arrivals(stack.bootstrap, stack.topics.due, PARTITIONS)
    ends = [stack.platform_in(4 + i * 0.1) for i in range(sentinels)]
    stack.load(attended_ending_at(ends, "sentinel", stack.clock.now()))
    if not arrivals.wait_count(5, 30):
        raise RuntimeError(f"no reminder fell due before the kill:\n{stack.worker.tail()}")
    killed = stack.worker.kill()
    began = time.time()
    stack.worker.start()
    ready = stack.worker.wait_ready(starts=2) - killed
    first = _first_emitted_after(stack, arrivals, killed, timeout=120)
    arrivals.close()
    floor = recovery_floor(stack, var_dir)
    return Figure(
        "recovery",
        first,
        "s kill->emitting",
        floor,
        "bare-faust-start->ready s",
        target=f"<= {RECOVERY_RATIO} x the floor",
        met=first <= RECOVERY_RATIO * floor,
        extra={
            "pending": pending,
            "kill_to_ready_s": round(ready, 2),
            "restart_spawn_s": round(began - killed, 3),
        },
    )


def recovery_floor(stack: Stack, var_dir: Path) -> float:
    """Seconds from start to ready of a bare Faust app with the worker's table: the worker is
    killed (kill -9) and its data directory copied as it was left; the app opens that
    copy under the worker's own app id, topics and changelog."""
    stack.worker.kill()
    [data] = (var_dir / stack.name / "reminders").glob("worker-*")
    floor_var = var_dir / f"{stack.name}-recovery-floor"
    shutil.copytree(data, floor_var / "floor")
    floor = Worker(
        stack.bootstrap,
        stack.topics.prefix,
        floor_var,
        stack.clock,
        module="bench.floor_worker",
        extra_env={"FLOOR_VALUE_BYTES": "1", "FLOOR_KIND": "bare"},
    )
    began = time.time()
    floor.start()
    try:
        return floor.wait_ready() - began
    finally:
        floor.stop()


def _first_emitted_after(stack: Stack, arrivals: Arrivals, killed: float, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for arrived, value in list(arrivals.seen):
            due = decode(ReminderDue, value)
            if stack.real_time_of(due.emitted_at) > killed:
                return arrived - killed
        time.sleep(0.05)
    raise TimeoutError(f"nothing emitted {timeout}s after the kill:\n{stack.worker.tail()}")


def run(bootstrap: str, var_dir: Path, events: int, pending: list[int]) -> list[Figure]:
    """Throughput; memory at the first of ``pending`` and recovery from kill -9 there; then,
    the worker started again, memory at the last of ``pending`` and its growth: one worker."""
    stack = Stack(bootstrap, "worker", var_dir)
    try:
        figures = [throughput(stack, events, var_dir)]
        idle = idle_rss(bootstrap, var_dir)
        first = memory(stack, idle, pending[0], events * TREATMENT_PENDING)
        figures += [first, recovery(stack, int(first.extra["pending"]), var_dir)]
        if len(pending) > 1:
            stack.worker.start()  # killed for the recovery floor: its third start
            stack.worker.wait_ready(starts=3)
            last = memory(stack, idle, pending[-1], int(first.extra["pending"]))
            figures += [last, memory_growth(first, last)]
        return figures
    finally:
        stack.close()


def idle_rss(bootstrap: str, var_dir: Path) -> float:
    """RSS of a worker that is ready and holds nothing (its own topics), in MB."""
    idle = Stack(bootstrap, "idle", var_dir)
    try:
        idle.start()
        time.sleep(2)
        return rss_mb(idle.worker.pid)
    finally:
        idle.close()
