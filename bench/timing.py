"""Figure 3: many reminders falling due in a short window; how late each one arrives."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

from bench.bookings import attended_ending_at, spread
from bench.kafka_io import Arrivals
from bench.result import Figure
from bench.stack import PARTITIONS, SCALE, Stack
from services.notifier.bootstrap import notifier
from services.notifier.settings import NotifierSettings
from services.shared.events import ReminderDue, decode

GRACE_SECONDS = 5.0
"""How long after the last due instant the figure still waits for arrivals."""


def run(
    bootstrap: str, var_dir: Path, reminders: int, window: float, load_rate: float
) -> list[Figure]:
    """``reminders`` first-aftercare messages due evenly over ``window`` real seconds.

    They are booked ahead of the window (lead time from ``load_rate``, the
    worker's measured booking rate). Two figures: how late each reminder is
    emitted (arrival on the due topic minus the real instant of ``due_at``), and
    how late each message is handed to the local sinks by a notifier running
    beside the worker, for every reminder due after booking ended.
    """
    stack = Stack(bootstrap, "timing", var_dir)
    sinks = var_dir / "timing-notifier"
    stop = threading.Event()
    try:
        stack.start()
        lead = 1.5 * reminders / load_rate + 8
        start = stack.platform_in(lead)
        ends = spread(start, timedelta(seconds=window * SCALE), reminders)
        arrivals = Arrivals(bootstrap, stack.topics.due, PARTITIONS)
        notifying = _notifier(stack, sinks, stop)
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
        handed = _handed_over(stack, arrivals, sinks / "outbox", loaded, last_due)
    finally:
        stop.set()
        stack.close()
    notifying.join(timeout=30)
    figure = _figure(late, reminders, window, loaded - stack.real_time_of(start))
    figure.extra["arrived"] = len(arrivals.seen)  # other milestones due in the window too
    return [figure, _sink_figure(handed, reminders, window)]


def _notifier(stack: Stack, var_dir: Path, stop: threading.Event) -> threading.Thread:
    """A notifier in this process on the stack's topics and clock, to the local sinks."""
    settings = NotifierSettings(
        bootstrap_servers=stack.bootstrap,
        topic_prefix=stack.topics.prefix,
        var_dir=var_dir,
        default_quiet_hours="",
        partitions=PARTITIONS,
    )
    var_dir.mkdir(parents=True, exist_ok=True)

    def deliver() -> None:
        with (
            open(os.devnull, "w") as quiet,
            contextlib.redirect_stdout(quiet),
            notifier(settings, stack.clock, stop) as running,
        ):
            running.run(stop)

    thread = threading.Thread(target=deliver, name="timing-notifier", daemon=True)
    thread.start()
    return thread


def _handed_over(
    stack: Stack, arrivals: Arrivals, outbox: Path, loaded: float, last_due: float
) -> list[float]:
    """Real seconds from due to the sink line, of each message due in the window."""
    due_at = {r.reminder_id: r.due_at for r in (decode(ReminderDue, v) for _, v in arrivals.seen)}
    late = []
    for name in ("sms.jsonl", "email.jsonl"):
        path = outbox / name
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for line in lines:
            sent = json.loads(line)
            if (due := due_at.get(sent["reminder_id"])) is None:
                continue
            real_due = stack.real_time_of(due)
            if loaded <= real_due <= last_due:
                handed = stack.real_time_of(datetime.fromisoformat(sent["sent_at"]))
                late.append(handed - real_due)
    return sorted(late)


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
    figure = _lateness_figure("timing", late, 1.0, {"measured": len(late), "planned": reminders})
    figure.extra.update(window_s=window, booking_overran_window_s=round(max(0.0, overrun), 1))
    return figure


def _sink_figure(late: list[float], reminders: int, window: float) -> Figure:
    counts = {"messages": len(late), "planned_reminders": reminders}
    if len(late) < 2:  # the notifier sent (almost) nothing: missed, with what it did
        return Figure(
            "due-to-sink",
            float("nan"),
            "s p99 late",
            float("nan"),
            "p50-s",
            target="p99 < 2 s",
            met=False,
            extra=counts,
        )
    figure = _lateness_figure("due-to-sink", late, 2.0, counts)
    figure.extra["window_s"] = window
    return figure


def _lateness_figure(name: str, late: list[float], limit: float, counts: dict[str, int]) -> Figure:
    """p99 of ``late`` (sorted seconds) against ``limit``, the median as its baseline."""
    p99 = statistics.quantiles(late, n=100)[98]
    return Figure(
        name,
        p99,
        "s p99 late",
        statistics.median(late),
        "p50-s",
        target=f"p99 < {limit:g} s",
        met=p99 < limit,
        extra={**counts, "max_s": round(late[-1], 3)},
    )
