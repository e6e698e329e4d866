"""Plays a :class:`Story` on a running :class:`FaultPlatform`, then counts.

Steps happen when the platform clock reaches them (late, never early, when an
earlier step such as a restart took real time).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from services.booking.store.store import BookingStore
from services.shared.events import Channel
from tests.faults.expected import expected
from tests.faults.harness import FaultPlatform
from tests.faults.scenario import Size, Step, Story
from tests.faults.tally import Tally, provider_counts, read_ledger, slowest, tally
from tests.support.providers import Mailbox, RecordingTwilio
from tests.support.twilio_server import Answer

SMTP_BUSY = "421 4.3.2 Service not available, try again later"
SMTP_GONE = "550 5.1.1 Mailbox unavailable"
BROKER_FAULTS = frozenset({"restart-broker", "kill-leader", "kill-controller", "start-brokers"})
CLINIC_CHANGES = frozenset({"book", "cancel", "reschedule", "attended"})
"""Each to a booking of its own, so those at the same time may be posted side by side."""


TOLERANCE_SECONDS = 1.5
"""How late (real seconds; platform hours at x3600) a step may run before the run fails."""


class Driver:
    """Keeps to the story: each step is done, or handed to the thread that does it, on time.

    Restarts do not hold the story up: a killed worker or notifier is started again
    at once and a watcher notes when it is ready (the time it was down, which the
    count needs). Broker faults run one after another on a thread of their own (a
    cluster loses one node at a time), each at its time or once the one before it
    is done. A step that begins more than ``tolerance`` late is a drift: the run
    fails, naming it.
    """

    def __init__(
        self,
        platform: FaultPlatform,
        twilio: RecordingTwilio,
        mailbox: Mailbox,
        say: Callable[[str], None] = print,
        tolerance: float = TOLERANCE_SECONDS,
    ) -> None:
        self.platform = platform
        self.twilio = twilio
        self.mailbox = mailbox
        self.say = say
        self.tolerance = timedelta(seconds=tolerance * platform.clock.scale)
        self.starts: dict[str, datetime] = {}
        self.resynced_at: datetime | None = None
        self.outages: dict[Channel, list[tuple[datetime, datetime]]] = {c: [] for c in Channel}
        """When Twilio answered 503, or the SMTP server 421, to everything, as it happened
        (overlapping outages merged)."""
        self.downtime: dict[str, list[tuple[datetime, datetime]]] = {"worker": [], "notifier": []}
        """From each kill (or stop) of a service to the moment it was ready again."""
        self.drifted: list[str] = []
        self.latest = timedelta(0)
        self.problems: list[str] = []
        self.drained_at: datetime | None = None
        self._open: dict[Channel, int] = {c: 0 for c in Channel}
        """Outages begun and not yet ended, per channel."""
        self._since: dict[Channel, datetime] = {}
        """Since when each channel's provider refuses everything."""
        self._services = threading.Lock()
        """Held while a service is killed and started, or stopped for the broker's restart."""
        self._brokers = ThreadPoolExecutor(max_workers=1, thread_name_prefix="broker-faults")
        self._broker_jobs: list[Future[None]] = []
        self._broker_free_at: datetime | None = None
        self._watchers: list[threading.Thread] = []
        self._desks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="front-desk")
        self._desk_jobs: list[Future[None]] = []

    def book(self, story: Story) -> None:
        self.mailbox.refuse[story.refused_address] = SMTP_GONE
        # Soonest first: at 3,600x a booking three platform hours ahead is three
        # real seconds ahead, less than posting them all can take.
        # Side by side, as a clinic's front desks do.
        soonest = sorted(story.bookings, key=lambda b: datetime.fromisoformat(b["start"]))
        list(self._desks.map(self._book_one, soonest))
        self.say(f"booked {len(story.bookings)}; {story.refused_address} refused for good (550)")

    def play(self, steps: list[Step]) -> None:
        for step in steps:
            time.sleep(self.platform.clock.real_seconds_until(step.at))
            if step.action in BROKER_FAULTS:
                self._broker_jobs.append(self._brokers.submit(self._broker_fault, step))
                continue
            if step.action in CLINIC_CHANGES:
                self._desk_jobs.append(self._desks.submit(self._clinic_change, step))
                continue
            self._begin(step, step.at)
            self._do(step)

    def _begin(self, step: Step, due: datetime) -> None:
        """Log the step with how late it runs; a drift past the tolerance is kept."""
        late = self.platform.now() - due
        self.latest = max(self.latest, late)
        self.say(f"{step.at:%a %H:%M} (+{late.total_seconds() / 3600:.1f}h) {step.action}")
        if late > self.tolerance:
            self.drifted.append(
                f"{step.action} planned {step.at:%a %H:%M} ran {late.total_seconds() / 3600:.1f}"
                f" platform hours late (tolerance {self.tolerance.total_seconds() / 3600:.1f})"
            )

    def _clinic_change(self, step: Step) -> None:
        """At a front desk: changes to different bookings at the same time go side by side."""
        self._begin(step, step.at)
        try:
            self._do(step)
        except Exception as exc:  # kept and failed at the end: the story goes on
            self.problems.append(f"{step.action} {step.arg}: {exc!r}")
            raise

    def _broker_fault(self, step: Step) -> None:
        """On the broker thread: at the step's time, or when the fault before it is done."""
        due = max(step.at, self._broker_free_at or step.at)
        self._begin(step, due)
        try:
            self._do(step)
        except Exception as exc:  # kept and failed at the end: the story goes on
            self.problems.append(f"{step.action}: {exc!r}")
            raise
        finally:
            self._broker_free_at = self.platform.now()

    def _do(self, step: Step) -> None:
        actions: dict[str, Callable[[Any], None]] = {
            "book": self._book_one,
            "cancel": self._cancel,
            "reschedule": self._reschedule,
            "attended": self._attended,
            "kill-worker": lambda _: self._kill_and_restart("worker"),
            "kill-notifier": lambda _: self._kill_and_restart("notifier"),
            "twilio-burst": self._burst,
            "smtp-421-on": lambda _: self._outage_begins(Channel.EMAIL),
            "smtp-421-off": lambda _: self._outage_ends(Channel.EMAIL),
            "twilio-down": lambda _: self._outage_begins(Channel.SMS),
            "twilio-up": lambda _: self._outage_ends(Channel.SMS),
            "restart-broker": lambda _: self._restart_broker(),
            "kill-leader": lambda _: self.say(f"killed node {self.platform.kill_busiest_leader()}"),
            "kill-controller": lambda _: self.say(
                f"killed node {self.platform.kill_active_controller()}"
            ),
            "start-brokers": lambda _: self.say(
                f"started nodes {self.platform.start_stopped_brokers()}"
            ),
        }
        actions[step.action](step.arg)

    def _book_one(self, body: dict[str, Any]) -> None:
        self.platform.post("/v1/bookings", body)
        self.starts[body["booking_id"]] = datetime.fromisoformat(body["start"])

    def _attended(self, booking_id: str) -> None:
        self.platform.post(f"/v1/bookings/{booking_id}/attended")

    def _cancel(self, booking_id: str) -> None:
        if self.starts[booking_id] > self.platform.now():
            self.platform.post(f"/v1/bookings/{booking_id}/cancel")

    def _reschedule(self, arg: tuple[str, datetime]) -> None:
        booking_id, start = arg
        if self.starts[booking_id] > self.platform.now():
            self.platform.post(
                f"/v1/bookings/{booking_id}/reschedule", {"start": start.isoformat()}
            )
            self.starts[booking_id] = start

    def _burst(self, arg: tuple[int, int]) -> None:
        limited, broken = arg
        self.twilio.burst(*[Answer(429, retry_after=1)] * limited, *[Answer(500)] * broken)

    def _outage_begins(self, channel: Channel) -> None:
        """The provider refuses everything (Twilio 503, SMTP 421) until every outage begun on
        it has ended."""
        self._open[channel] += 1
        if self._open[channel] == 1:
            self._refuse(channel, True)
            self._since[channel] = self.platform.now()

    def _outage_ends(self, channel: Channel) -> None:
        self._open[channel] -= 1
        if self._open[channel] > 0:
            self.say(f"a {channel.value} outage ended inside another: still refused")
            return
        self._refuse(channel, False)
        window = (self._since.pop(channel), self.platform.now())
        self.outages[channel].append(window)
        provider = "twilio answered 503" if channel is Channel.SMS else "smtp answered 421"
        self.say(f"{provider} from {window[0]:%a %H:%M} to {window[1]:%a %H:%M}")

    def _refuse(self, channel: Channel, refusing: bool) -> None:
        if channel is Channel.EMAIL:
            self.mailbox.refuse_everyone = SMTP_BUSY if refusing else None
        elif refusing:
            self.twilio.down(Answer(503))
        else:
            self.twilio.up()

    def _kill_and_restart(self, which: str) -> None:
        """SIGKILL, start again at once; a watcher notes when it is ready."""
        with self._services:
            self.platform.service(which).kill()
            killed_at = self.platform.now()
            self.platform.launch(which)
            wanted = self.platform.service(which).starts
        watcher = threading.Thread(target=self._watch, args=(which, killed_at, wanted), daemon=True)
        watcher.start()
        self._watchers.append(watcher)

    def _watch(self, which: str, since: datetime, wanted: int, timeout: float = 120.0) -> None:
        began = time.monotonic()
        while not self.platform.ready(which, since=wanted):
            if time.monotonic() - began > timeout:
                self.problems.append(f"{which} killed at {since:%a %H:%M}: not ready in {timeout}s")
                return
            time.sleep(0.1)
        self._was_down(which, since, began)

    def _was_down(self, which: str, since: datetime, began: float) -> None:
        back = self.platform.now()
        self.downtime[which].append((since, back))
        self.say(
            f"{which} ready again {time.monotonic() - began:.1f} s after it went "
            f"(down {since:%a %H:%M} to {back:%a %H:%M})"
        )

    def _restart_broker(self) -> None:
        with self._services:
            stopped_at, began = self.platform.now(), time.monotonic()
            self.platform.restart_broker()
        for which in ("worker", "notifier"):
            self._was_down(which, stopped_at, began)
        self.say(self.platform.resync())
        self.resynced_at = self.platform.now()

    def finish(self, end: datetime, margin: timedelta) -> None:
        """Run to ``end`` plus ``margin``, stop faults, let the notifier drain, stop services."""
        for job in [*self._desk_jobs, *self._broker_jobs]:
            job.exception(timeout=300)  # a failure is in ``problems``
        self._desks.shutdown()
        for watcher in self._watchers:
            watcher.join(timeout=150)
        self.twilio.clear_answers()
        for channel, still in self._open.items():
            if still:
                self._open[channel] = 1
                self._outage_ends(channel)
        time.sleep(self.platform.clock.real_seconds_until(end + margin))
        self.platform.worker.stop()
        self._drain()
        self.platform.notifier.stop()
        self.drained_at = self.platform.now()

    def _drain(self, timeout: float = 180.0) -> None:
        """Wait until the notifier has committed every due reminder it was given, and tried
        every retry already due.

        It commits a poll's reminders once each has an outcome (sent, failed,
        skipped, pending a retry, or unknown when it was killed mid-send), so
        nothing it took is still in its hands then. At an hour a second, a resync
        just before quiet hours can leave it behind at the end of the window: late,
        not lost. A retry held past the end (quiet hours) stays pending: the count
        reports it with its reason.
        """
        began = time.monotonic()
        backlog = self.platform.due_backlog() + self.platform.overdue_retries()
        while backlog and time.monotonic() < began + timeout:
            time.sleep(0.5)
            backlog = self.platform.due_backlog() + self.platform.overdue_retries()
        took = time.monotonic() - began
        self.say(
            f"drain: {backlog} due reminders or retries not yet taken by the notifier "
            f"after {took:.0f} s"
        )

    def close(self) -> None:
        """End the broker faults' thread, once the platform is stopped: a node started
        from it (``tied``) dies with it."""
        self._brokers.shutdown(wait=True)

    def count(self, cut: datetime, margin: timedelta) -> Tally:
        if self.platform.cluster is not None:
            nodes = len(self.platform.cluster.nodes)
            for topic, replicas in self.platform.cluster.replicas().items():
                if replicas < nodes:  # one dead broker would stop it, one lost disk lose it
                    self.problems.append(f"topic {topic} has {replicas} of {nodes} replicas")
        if not self.platform.tap.catch_up():
            self.problems.append("the status tap did not read the status topic to its end")
        store = BookingStore(self.platform.booking_db)
        try:
            due = expected(
                store, cut, margin, self.resynced_at, self.outages, self.downtime["notifier"]
            )
        finally:
            store.close()
        ledger = read_ledger(self.platform.ledger_db)
        counts, unexplained = provider_counts(
            self.twilio.accepted, self.mailbox.received, ledger, due
        )
        down = self.downtime["notifier"]
        blocked = {c: sorted([*self.outages[c], *down]) for c in Channel}
        result = tally(
            due,
            ledger,
            counts,
            unexplained,
            self.platform.tap.statuses,
            margin,
            self.drained_at,
            blocked,
        )
        result.slowest = slowest(due, self.platform.tap.emitted, ledger)
        result.provider_sms = len(self.twilio.accepted)
        result.provider_email = len(self.mailbox.received)
        return result


def describe(size: Size) -> str:
    return (
        f"fault run: seed {size.seed} (replay with FAULT_SEED={size.seed}), "
        f"{size.bookings} bookings over {size.hours:g} platform hours at x{size.scale:g}"
    )
