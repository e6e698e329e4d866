"""Properties of every plan, over start times, time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from services.reminders.planning import ClinicPolicy, PlannedReminder
from services.shared.clinics import QuietHours
from services.shared.events import Booking, Patient
from tests.unit.planning.planning_helpers import REGISTRY, plan

ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Europe/Paris",
    "Pacific/Auckland",
]
# Days around the 2026 daylight-saving changes of the zones above.
DST_DAYS = [
    datetime(2026, 3, 8),
    datetime(2026, 3, 29),
    datetime(2026, 4, 5),
    datetime(2026, 9, 27),
    datetime(2026, 10, 4),
    datetime(2026, 10, 25),
    datetime(2026, 11, 1),
]
POLICIES = [
    ClinicPolicy(),
    ClinicPolicy(maintenance="biannual"),
    ClinicPolicy(quiet=QuietHours(start=time(20, 0), end=time(9, 30))),
    ClinicPolicy(quiet=QuietHours(start=time(12, 0), end=time(14, 0))),
    ClinicPolicy(quiet=None),
]
PROTOCOL = REGISTRY.get("microsclerotherapy")


@st.composite
def local_starts(draw: st.DrawFn) -> datetime:
    """A naive local start: anywhere in 2026-27, or within days of a DST change."""
    near = draw(st.sampled_from(DST_DAYS)) + timedelta(
        days=draw(st.integers(-60, 60)), minutes=draw(st.integers(0, 24 * 60 - 1))
    )
    anywhere = datetime(2026, 1, 1) + timedelta(minutes=draw(st.integers(0, 2 * 365 * 24 * 60)))
    return draw(st.sampled_from([near, anywhere])).replace(second=0, microsecond=0)


@st.composite
def patients(draw: st.DrawFn) -> list[Booking]:
    """One to three bookings of one patient, in one zone."""
    tz = draw(st.sampled_from(ZONES))
    patient = Patient(id="p", first_name="Ann", timezone=tz)
    bookings = []
    for index in range(draw(st.integers(1, 3))):
        start = draw(local_starts()).replace(tzinfo=ZoneInfo(tz))
        lead = draw(st.one_of(st.none(), st.integers(-48 * 60, 60 * 24 * 60)))
        planned = draw(st.one_of(st.none(), st.integers(1, 8)))
        bookings.append(
            Booking(
                clinic_id="c",
                booking_id=f"b{index}",
                patient=patient,
                treatment="microsclerotherapy",
                kind=draw(st.sampled_from(["consultation", "treatment", "review"])),
                session_number=draw(st.integers(1, 7)),
                sessions_planned=planned,
                start=start,
                duration_minutes=draw(st.integers(5, 240)),
                status=draw(st.sampled_from(["booked", "attended", "no_show", "cancelled"])),
                schedule_version=draw(st.integers(1, 3)),
                booked_at=None if lead is None else start - timedelta(minutes=lead),
            )
        )
    return bookings


def check_invariants(
    bookings: list[Booking], policy: ClinicPolicy, planned: list[PlannedReminder]
) -> None:
    by_id = {b.booking_id: b for b in bookings}
    assert [(r.due_at, r.reminder_id) for r in planned] == sorted(
        (r.due_at, r.reminder_id) for r in planned
    )
    assert len({r.reminder_id for r in planned}) == len(planned)
    for reminder in planned:
        booking = by_id[reminder.booking_id]
        assert reminder.due_at.utcoffset() == timedelta(0)
        wall = reminder.due_at.astimezone(ZoneInfo(booking.patient.timezone)).time()
        assert policy.quiet is None or not policy.quiet.contains(wall), reminder
        if booking.booked_at is not None:
            assert reminder.due_at >= booking.booked_at, reminder
        if reminder.stale_at is not None:
            assert reminder.due_at < reminder.stale_at, reminder


@settings(max_examples=150, deadline=None)
@given(bookings=patients(), policy=st.sampled_from(POLICIES))
def test_plan_invariants(bookings: list[Booking], policy: ClinicPolicy) -> None:
    planned = plan(*bookings, policy=policy)
    check_invariants(bookings, policy, planned)
    assert plan(*reversed(bookings), policy=policy) == planned


@settings(max_examples=80, deadline=None)
@given(bookings=patients())
def test_ids_change_with_the_schedule_version(bookings: list[Booking]) -> None:
    before = plan(*bookings)
    moved = [b.model_copy(update={"schedule_version": b.schedule_version + 1}) for b in bookings]
    after = plan(*moved)
    assert sorted((r.booking_id, r.milestone, r.due_at) for r in after) == sorted(
        (r.booking_id, r.milestone, r.due_at) for r in before
    )
    assert not {r.reminder_id for r in before} & {r.reminder_id for r in after}


@settings(max_examples=100, deadline=None)
@given(
    start=local_starts(),
    tz=st.sampled_from(ZONES),
    status=st.sampled_from(["booked", "attended"]),
    kind=st.sampled_from(["consultation", "treatment"]),
)
def test_day_offsets_keep_the_local_time_across_dst(
    start: datetime, tz: str, status: str, kind: str
) -> None:
    booking = Booking(
        clinic_id="c",
        booking_id="b",
        patient=Patient(id="p", first_name="A", timezone=tz),
        treatment="microsclerotherapy",
        kind=kind,
        start=start.replace(tzinfo=ZoneInfo(tz)),
        status=status,
        booked_at=datetime(2020, 1, 1, tzinfo=UTC),
    )
    milestones = {m.id: m for m in PROTOCOL.milestones}
    for reminder in plan(booking):
        at = milestones[reminder.milestone].at
        if at is not None:
            assert reminder.due_at.astimezone(ZoneInfo(tz)).time() == at, reminder
        else:
            assert reminder.milestone in {
                "aftercare-today",
                "aftercare-hot-baths",
                "consultation-reminder",
                "treatment-reminder",
            }
