"""Ops summaries of the schedule."""

from __future__ import annotations

from datetime import timedelta

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule import Scheduler
from services.reminders.state import PatientState
from services.reminders.stats import describe, summarize
from tests.unit.reminders.factories import BOOKED_AT, START, booking, event, fire


def test_summary_counts_pending_done_and_the_next_due() -> None:
    patients: dict[str, object] = {}
    s = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: ClinicPolicy())
    s.apply(event(booking("bk-1", "p-1")), 0, BOOKED_AT)
    s.apply(event(booking("bk-2", "p-2", start=START + timedelta(days=1))), 0, BOOKED_AT)
    states = [PatientState.from_value(v) for v in patients.values()]  # type: ignore[arg-type]
    before = summarize(states, BOOKED_AT)
    assert before["patients"] == 2 and before["emitted"] == 0
    first = min(p.due_at for st in states for p in st.pending.values())
    assert before["next_due"] == first.isoformat()
    fire(s, 0, BOOKED_AT)
    fired = fire(s, 0, START - timedelta(hours=1)).emitted
    after = summarize(
        [PatientState.from_value(v) for v in patients.values()],  # type: ignore[arg-type]
        START,
    )
    assert after["emitted"] == len(fired) > 0
    assert after["pending"] == before["pending"] - len(fired)
    assert sum(after["pending_by_milestone"].values()) == after["pending"]


def test_describe_shows_one_booking_of_a_patient() -> None:
    patients: dict[str, object] = {}
    s = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: ClinicPolicy())
    s.apply(event(booking("bk-1")), 0, BOOKED_AT)
    s.apply(
        event(booking("bk-2", start=START + timedelta(days=40), session_number=2)), 0, BOOKED_AT
    )
    state = PatientState.from_value(patients["dr-jenny:p-42"])  # type: ignore[arg-type]
    one = describe(state, "bk-2")
    assert [b["booking_id"] for b in one["bookings"]] == ["bk-2"]
    assert one["pending"] and {p["booking_id"] for p in one["pending"]} == {"bk-2"}
    dues = [p["due_at"] for p in one["pending"]]
    assert dues == sorted(dues)
