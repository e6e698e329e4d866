"""Figure 3: many reminders falling due in a short window; how late each one arrives."""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from pathlib import Path

from bench.bookings import attended_ending_at, spread
from bench.kafka_io import Arrivals
from bench.result import Figure
from bench.stack import PARTITIONS, SCALE, Stack
from services.shared.events import ReminderDue, decode

GRACE_SECONDS = 5.0
"""How long after the last due instant the figure still waits for arrivals."""


def run(bootstrap: str, var_dir: Path, reminders: int, window: float, load_rate: float) -> Figure:
    """``reminders`` first-aftercare messages due evenly over ``window`` real seconds.

    They are booked ahead of the window (lead time from ``load_rate``, the
    worker's measured booking rate); lateness is arrival on the due topic minus
    the real instant of ``due_at``, for every reminder due after booking ended.
    """
    stack = Stack(bootstrap, "timing", var_dir)
    try:
        stack.start()
        lead = 1.5 * reminders / load_rate + 8
        start = stack.platform_in(lead)
        ends = spread(start, timedelta(seconds=window * SCALE), reminders)
        arrivals = Arrivals(bootstrap, stack.topics.due, PARTITIONS)
        stack.load(attended_ending_at(ends, "timing", stack.clock.now()))
        loaded = time.time()
        last_due = stack.real_time_of(ends[-1])
        arrivals.wait_count(reminders, max(0.0, last_due - time.time()) + 60)
        # Other milestones of the same bookings come due in the window too, so
        # the count can be reached before the last of these arrived: wait out
        # the window and a few seconds more (a later one is counted missing).
        time.sleep(max(0.0, last_due + GRACE_SECONDS - time.time()))
        arrivals.close()
        late = _lateness(stack, arrivals, loaded, last_due)
    finally:
        stack.close()
    figure = _figure(late, reminders, window, loaded - stack.real_time_of(start))
    figure.extra["arrived"] = len(arrivals.seen)  # other milestones due in the window too
    return figure


def _lateness(stack: Stack, arrivals: Arrivals, loaded: float, last_due: float) -> list[float]:
    late = []
    for arrived, value in arrivals.seen:
        due = stack.real_time_of(decode(ReminderDue, value).due_at)
        if loaded <= due <= last_due:
            late.append(arrived - due)
    return sorted(late)


def _figure(late: list[float], reminders: int, window: float, overrun: float) -> Figure:
    if len(late) < 2:
        raise RuntimeError(f"only {len(late)} reminders arrived in the window")
    p99 = statistics.quantiles(late, n=100)[98]
    return Figure(
        "timing",
        p99,
        "s p99 late",
        statistics.median(late),
        "p50-s",
        target="p99 < 1 s",
        met=p99 < 1.0,
        extra={
            "measured": len(late),
            "planned": reminders,
            "window_s": window,
            "max_s": round(late[-1], 3),
            "booking_overran_window_s": round(max(0.0, overrun), 1),
        },
    )
