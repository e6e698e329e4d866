"""Plays a :class:`Story` on a running :class:`FaultPlatform`, then counts.

Steps happen when the platform clock reaches them (late, never early, when an
earlier step such as a restart took real time).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from services.booking.store import BookingStore
from tests.faults.expected import expected
from tests.faults.harness import FaultPlatform
from tests.faults.scenario import Size, Step, Story
from tests.faults.tally import Tally, provider_counts, read_ledger, tally
from tests.support.providers import Mailbox, RecordingTwilio
from tests.support.twilio_server import Answer

SMTP_BUSY = "421 4.3.2 Service not available, try again later"
SMTP_GONE = "550 5.1.1 Mailbox unavailable"


class Driver:
    def __init__(
        self,
        platform: FaultPlatform,
        twilio: RecordingTwilio,
        mailbox: Mailbox,
        say: Callable[[str], None] = print,
    ) -> None:
        self.platform = platform
        self.twilio = twilio
        self.mailbox = mailbox
        self.say = say
        self.starts: dict[str, datetime] = {}
        self.resynced_at: datetime | None = None
        self.sms_outages: list[tuple[datetime, datetime]] = []
        """When Twilio answered 503 to everything, as it happened (steps can run late)."""

    def book(self, story: Story) -> None:
        self.mailbox.refuse[story.refused_address] = SMTP_GONE
        # Soonest first: at 3,600x a booking three platform hours ahead is three
        # real seconds ahead, less than posting them all can take.
        for body in sorted(story.bookings, key=lambda b: datetime.fromisoformat(b["start"])):
            self._book_one(body)
        self.say(f"booked {len(story.bookings)}; {story.refused_address} refused for good (550)")

    def play(self, steps: list[Step]) -> None:
        for step in steps:
            time.sleep(self.platform.clock.real_seconds_until(step.at))
            late = self.platform.now() - step.at
            self.say(f"{step.at:%a %H:%M} (+{late.total_seconds() / 3600:.1f}h) {step.action}")
            self._do(step)

    def _do(self, step: Step) -> None:
        actions: dict[str, Callable[[Any], None]] = {
            "book": self._book_one,
            "cancel": self._cancel,
            "reschedule": self._reschedule,
            "attended": self._attended,
            "kill-worker": lambda _: self._kill_and_restart("worker"),
            "kill-notifier": lambda _: self._kill_and_restart("notifier"),
            "twilio-burst": self._burst,
            "smtp-421-on": lambda _: setattr(self.mailbox, "refuse_everyone", SMTP_BUSY),
            "smtp-421-off": lambda _: setattr(self.mailbox, "refuse_everyone", None),
            "twilio-down": lambda _: self._twilio_down(),
            "twilio-up": self._twilio_up,
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

    def _twilio_down(self) -> None:
        self.twilio.down(Answer(503))
        self.sms_outages.append((self.platform.now(), self.platform.now()))

    def _twilio_up(self, lasts: timedelta) -> None:
        """End the outage once it has lasted ``lasts``, however late its start ran."""
        down, _ = self.sms_outages[-1]
        time.sleep(self.platform.clock.real_seconds_until(down + lasts))
        self.twilio.up()
        self.sms_outages[-1] = (down, self.platform.now())
        self.say(f"twilio answered 503 from {down:%a %H:%M} to {self.platform.now():%a %H:%M}")

    def _kill_and_restart(self, which: str) -> None:
        service = self.platform.worker if which == "worker" else self.platform.notifier
        service.kill()
        if which == "worker":
            self.platform.restart_worker()
        else:
            self.platform.restart_notifier()

    def _restart_broker(self) -> None:
        self.platform.restart_broker()
        self.say(self.platform.resync())
        self.resynced_at = self.platform.now()

    def finish(self, end: datetime, margin: timedelta) -> None:
        """Run to ``end`` plus ``margin``, stop faults, let the notifier drain, stop services."""
        self.twilio.clear_answers()
        self.twilio.up()
        self.mailbox.refuse_everyone = None
        time.sleep(self.platform.clock.real_seconds_until(end + margin))
        self.platform.worker.stop()
        self._drain()
        self.platform.notifier.stop()

    def _drain(self, timeout: float = 180.0) -> None:
        """Wait until the notifier has committed every due reminder it was given.

        It commits a poll's reminders once each has an outcome (sent, failed,
        skipped, or unknown when it was killed mid-send), so nothing it took is
        still in its hands then. At an hour a second, a resync just before quiet
        hours can leave it behind at the end of the window: late, not lost.
        """
        began = time.monotonic()
        backlog = self.platform.due_backlog()
        while backlog and time.monotonic() < began + timeout:
            time.sleep(0.5)
            backlog = self.platform.due_backlog()
        took = time.monotonic() - began
        self.say(f"drain: {backlog} due reminders not yet taken by the notifier after {took:.0f} s")

    def count(self, cut: datetime, margin: timedelta) -> Tally:
        store = BookingStore(self.platform.booking_db)
        try:
            due = expected(store, cut, margin, self.resynced_at, self.sms_outages)
        finally:
            store.close()
        ledger = read_ledger(self.platform.ledger_db)
        counts, unexplained = provider_counts(
            self.twilio.accepted, self.mailbox.received, ledger, due
        )
        result = tally(due, ledger, counts, unexplained, self.platform.tap.statuses, margin)
        result.provider_sms = len(self.twilio.accepted)
        result.provider_email = len(self.mailbox.received)
        return result


def describe(size: Size) -> str:
    return (
        f"fault run: seed {size.seed} (replay with FAULT_SEED={size.seed}), "
        f"{size.bookings} bookings over {size.hours:g} platform hours at x{size.scale:g}"
    )
