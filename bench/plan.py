"""The plan engine alone, against its arithmetic floor on the same bookings.

The floor is a straight loop that works out the same due and stale instants of
the same bookings (offsets from the start or the end, the local time of day,
quiet hours, zone conversion with ``zoneinfo``) from plain numbers read out of
the protocol once, before the clock starts: no protocol objects, no ids, no
message context. What the engine takes beyond it is what its rules and its
shapes cost.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from zoneinfo import ZoneInfo

from bench.bookings import future_bookings
from bench.result import Figure
from services.reminders.planning.course import conditions_hold, triggers
from services.reminders.planning.engine import ClinicPolicy, plan_patient
from services.reminders.planning.localtime import shift_day
from services.reminders.planning.offsets import Unit
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.planning.timing import clear_day_caches
from services.shared.clinics import DEFAULT_QUIET
from services.shared.events import Booking

TARGET = 0.25
"""The engine's plans per second, as a share of the floor's."""

Spec = tuple[bool, int, Unit, wall_time | None, str | None, timedelta | None]
"""One milestone as plain numbers: from the end, signed amount, unit, time of day, stale
at start or end, stale after."""


def run(count: int) -> Figure:
    """Plans per second of ``plan_patient`` against the floor's, on the same bookings."""
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    made = future_bookings(count // 2, "plan", now) + future_bookings(
        count - count // 2, "plan-att", now, attended=True
    )
    registry, policy = ProtocolRegistry.builtin(), ClinicPolicy()
    specs = {b.booking_id: _specs(b, registry, policy) for b in made}

    def engine() -> int:
        clear_day_caches()  # every round starts cold, as the first one did
        return sum(len(plan_patient([b], registry, policy)) for b in made)

    (floor, floor_instants), (plans, reminders) = _best_of_pairs(
        lambda: _floor(made, specs), engine
    )
    assert floor_instants == reminders, (floor_instants, reminders)  # the same work on both
    engine_rate, floor_rate = count / plans, count / floor
    return Figure(
        "plan",
        engine_rate,
        "plans/s",
        floor_rate,
        "arithmetic-floor plans/s",
        target=f">= {TARGET} of the floor",
        met=engine_rate / floor_rate >= TARGET,
        extra={"reminders_per_plan": round(reminders / count, 1), "plans": count},
    )


Timed = tuple[float, int]
"""The fastest run of some work (seconds), and what it returned."""


def _best_of_pairs(
    floor: Callable[[], int], engine: Callable[[], int], rounds: int = 5
) -> tuple[Timed, Timed]:
    """The fastest of ``rounds`` runs of each, taken in turns (floor, engine, floor, ...):
    this machine's speed drifts by a fifth within a minute, and rounds of one side
    after all of the other's measured the drift as much as the engine."""
    best = [(float("inf"), 0), (float("inf"), 0)]
    for _ in range(rounds):
        for side, work in enumerate((floor, engine)):
            began = time.perf_counter()
            result = work()
            best[side] = (min(best[side][0], time.perf_counter() - began), result)
    return best[0], best[1]


def _specs(booking: Booking, registry: ProtocolRegistry, policy: ClinicPolicy) -> list[Spec]:
    """The milestones the engine plans for ``booking``, read out as plain numbers (the
    course's rules and conditions are the engine's own work: judged here, off the clock)."""
    protocol = registry.get(booking.treatment)
    specs: list[Spec] = []
    for trigger in triggers(booking, [booking], protocol, policy.attendance):
        for m in protocol.milestones_for(trigger, booking.kind):
            if not conditions_hold(m.conditions, booking, [booking], protocol):
                continue
            offset = m.offset_for(policy.maintenance)
            amount = offset.amounts()[0]
            specs.append((m.anchor == "end", amount, offset.unit, m.at, m.stale, m.stale_after))
    return specs


def _floor(bookings: Sequence[Booking], specs: dict[str, list[Spec]]) -> int:
    """Every due and stale instant of every booking, straight; returns how many were kept."""
    quiet = DEFAULT_QUIET
    assert quiet is not None
    begins, ends = quiet.start, quiet.end
    kept = 0
    for booking in bookings:
        zone = ZoneInfo(booking.patient.timezone)
        start = booking.start
        end = start + timedelta(minutes=booking.duration_minutes)
        for from_end, amount, unit, at, stale, stale_after in specs[booking.booking_id]:
            anchor = end if from_end else start
            if unit is Unit.HOURS:
                due = anchor + timedelta(hours=amount)
            else:
                assert at is not None
                day = anchor.astimezone(zone).date()
                day = shift_day(day, amount, unit)
                due = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
            stale_at = start if stale == "start" else end if stale == "end" else None
            if stale_after is not None:  # from the natural due instant, as the engine's
                after = due + stale_after
                stale_at = after if stale_at is None else min(stale_at, after)
            local = due.astimezone(zone)
            wall = local.time()
            if wall >= begins or wall < ends:  # quiet hours that wrap midnight
                opens = datetime.combine(local.date(), ends, tzinfo=zone)
                if opens <= local:
                    opens = datetime.combine(local.date() + timedelta(days=1), ends, tzinfo=zone)
                due = opens.astimezone(UTC)
            if stale_at is None or due < stale_at:
                kept += 1
    return kept
