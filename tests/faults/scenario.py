"""What the clinic does and what goes wrong, drawn from one seed.

Everything is placed on the platform clock as a fraction of the run, so the
same seed gives the same story at any size; ``FAULT_SEED`` replays one.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

CLINIC = "dr-jenny"


@dataclass(frozen=True)
class Size:
    """The knobs of a run; the in-suite defaults, or ``FAULT_*`` variables for ``make chaos``."""

    seed: int
    bookings: int = 30
    hours: float = 54.0
    scale: float = 3600.0
    worker_kills: int = 1
    notifier_kills: int = 1
    twilio_bursts: int = 4
    smtp_outages: int = 1
    twilio_outages: int = 1
    overlapping: bool = False
    """Each Twilio outage after the first begins while the one before it lasts."""
    broker: str = "tansu"
    """``tansu``: the embedded broker, lost whole once; ``cluster``: three Apache Kafka
    nodes, of which the busiest leader, and later the active controller, are killed
    and started again."""

    @classmethod
    def from_environment(cls) -> Size:
        env = os.environ
        return cls(
            seed=seed_from_environment(),
            bookings=int(env.get("FAULT_BOOKINGS", "30")),
            hours=float(env.get("FAULT_HOURS", "54")),
            scale=float(env.get("FAULT_SCALE", "3600")),
            worker_kills=int(env.get("FAULT_WORKER_KILLS", "1")),
            notifier_kills=int(env.get("FAULT_NOTIFIER_KILLS", "1")),
            twilio_bursts=int(env.get("FAULT_TWILIO_BURSTS", "4")),
            smtp_outages=int(env.get("FAULT_SMTP_OUTAGES", "1")),
            twilio_outages=int(env.get("FAULT_TWILIO_OUTAGES", "1")),
            overlapping=env.get("FAULT_OVERLAPPING_OUTAGES", "") == "1",
            broker=env.get("FAULT_BROKER", "tansu"),
        )


def seed_from_environment() -> int:
    """``FAULT_SEED``, or a new one (printed by the run, to replay it)."""
    return int(os.environ.get("FAULT_SEED") or random.SystemRandom().randrange(1, 10**6))


@dataclass(frozen=True)
class Step:
    """One thing to do once the platform clock reaches ``at``."""

    at: datetime
    action: str
    arg: Any = None


@dataclass
class Story:
    bookings: list[dict[str, Any]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    refused_address: str = ""
    end: datetime = datetime.min
    rng: random.Random = field(default_factory=random.Random)
    """Drew the bookings; draws the rest of the story next (:func:`unfold`)."""


def patient(i: int, rng: random.Random) -> dict[str, Any]:
    sms = rng.random() > 0.1
    email = rng.random() > 0.1
    return {
        "id": f"p-{i:04d}",
        "first_name": "Jane",
        "phone": f"+4477009{i:05d}",
        "email": f"p{i:04d}@example.com",
        "locale": "en-GB",
        "timezone": "Europe/London",
        "consent": {"sms": sms, "email": email},
    }


def booking(i: int, now: datetime, hours: float, rng: random.Random) -> dict[str, Any]:
    """A consultation or a first treatment starting in clinic hours within the run."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = now
    while start <= now + timedelta(hours=3):
        offset = rng.uniform(0.05, 0.95) * (hours + 24)
        start = (day + timedelta(hours=offset)).replace(minute=0)
        start = start.replace(hour=min(max(start.hour, 9), 16))
    return {
        "clinic_id": CLINIC,
        "booking_id": f"bk-{i:04d}",
        "patient": patient(i, rng),
        "treatment": "microsclerotherapy",
        "kind": rng.choice(["consultation", "treatment"]),
        "session_number": 1,
        "start": start.isoformat(),
        "duration_minutes": 45,
    }


def story(size: Size, now: datetime) -> Story:
    """The bookings of one run; :func:`unfold` draws what happens once they are made."""
    rng = random.Random(size.seed)
    told = Story(bookings=[booking(i, now, size.hours, rng) for i in range(size.bookings)])
    told.refused_address = told.bookings[1]["patient"]["email"]
    told.rng = rng
    return told


def unfold(told: Story, size: Size, begin: datetime) -> None:
    """The clinic's changes and the faults, over ``size.hours`` from ``begin`` (once the
    bookings are made: posting 200 takes platform hours at x3600)."""
    rng = told.rng
    end = begin + timedelta(hours=size.hours)
    told.end = end

    def at(low: float, high: float) -> datetime:
        return begin + timedelta(hours=size.hours * rng.uniform(low, high))

    _clinic_changes(told, rng, at, begin, end)
    for _ in range(size.worker_kills):
        told.steps.append(Step(at(0.12, 0.55), "kill-worker"))
    for _ in range(size.notifier_kills):
        told.steps.append(Step(at(0.12, 0.55), "kill-notifier"))
    for _ in range(size.twilio_bursts):
        told.steps.append(
            Step(at(0.02, 0.85), "twilio-burst", (rng.randint(1, 3), rng.randint(1, 3)))
        )
    for _ in range(size.smtp_outages):
        start = at(0.1, 0.7)
        told.steps.append(Step(start, "smtp-421-on"))
        told.steps.append(Step(start + timedelta(hours=size.hours * 0.08), "smtp-421-off"))
    lasts = timedelta(hours=max(1.0, size.hours * 0.15))  # past the old 8 s of retries
    start = end
    for i in range(size.twilio_outages):
        # With ``overlapping``, each after the first begins while the one before lasts.
        inside = size.overlapping and i > 0
        start = start + lasts * rng.uniform(0.3, 0.7) if inside else at(0.1, 0.7)
        told.steps += [Step(start, "twilio-down"), Step(start + lasts, "twilio-up")]
    told.steps += _broker_faults(size, at)
    if size.broker == "cluster":
        _bookings_during(told, size, rng, at)
    told.steps.sort(key=lambda step: step.at)


def _broker_faults(size: Size, at: Any) -> list[Step]:
    if size.broker == "cluster":
        # One node down at a time: what a cluster of three is built to ride through
        # (two of three keep the quorum and min.insync.replicas=2).
        return [
            Step(at(0.25, 0.3), "kill-leader"),
            Step(at(0.35, 0.4), "start-brokers"),
            Step(at(0.45, 0.5), "kill-controller"),
            Step(at(0.6, 0.68), "start-brokers"),
        ]
    return [Step(at(0.6, 0.68), "restart-broker")]


def _bookings_during(told: Story, size: Size, rng: random.Random, at: Any) -> None:
    """On the cluster, a second stream of bookings made while its nodes die and return."""
    first = len(told.bookings)
    for i in range(first, first + size.bookings // 2):
        when = at(0.05, 0.7)
        body = booking(i, when, size.hours * 0.3, rng)
        told.steps.append(Step(when, "book", body))


def _clinic_changes(
    told: Story, rng: random.Random, at: Any, begin: datetime, end: datetime
) -> None:
    """Cancel and move a few bookings; mark treatments that end in the run attended (those
    that ended while the bookings were being made stay as booked: aftercare is planned at
    booking, attendance assumed)."""
    candidates = list(range(2, len(told.bookings)))
    rng.shuffle(candidates)
    count = max(1, len(told.bookings) // 10)
    for i in candidates[:count]:
        told.steps.append(Step(at(0.02, 0.5), "cancel", told.bookings[i]["booking_id"]))
    for i in candidates[count : 2 * count]:
        moved = datetime.fromisoformat(told.bookings[i]["start"]) + timedelta(
            days=rng.randint(1, 2)
        )
        told.steps.append(
            Step(at(0.02, 0.5), "reschedule", (told.bookings[i]["booking_id"], moved))
        )
    for i in candidates[2 * count :]:
        body = told.bookings[i]
        ends = datetime.fromisoformat(body["start"]) + timedelta(minutes=50)
        if body["kind"] == "treatment" and begin < ends < end:
            told.steps.append(Step(ends, "attended", body["booking_id"]))
