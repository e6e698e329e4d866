"""A practice system's export of this morning's visits: each row's status, and its aftercare."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.booking.store.store import BookingStore
from services.cli import main
from services.reminders.planning import ClinicPolicy, ProtocolRegistry, plan_patient
from services.shared.events import Booking

HEADER = "booking_id,patient_id,first_name,phone,treatment,kind,start,status\n"
ROWS = {
    "bk-p1": "2026-11-01T10:00:00+00:00,",
    "bk-p2": "2026-11-01T10:30:00+00:00,attended",
    "bk-p3": "2026-11-01T11:00:00+00:00,no_show",
    "bk-p4": "2026-11-01T11:30:00+00:00,cancelled",
    "bk-f1": "2026-11-05T10:00:00+00:00,attended",
    "bk-x1": "2026-11-05T10:00:00+00:00,maybe",
}


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Booking]:
    monkeypatch.setenv("CLINIC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CLINIC_CLOCK_START", "2026-11-01T15:00:00+00:00")
    monkeypatch.setenv("COLUMNS", "200")
    lines = [
        f"{bid},p-{bid},Ann,+447700900123,microsclerotherapy,treatment,{rest}"
        for bid, rest in ROWS.items()
    ]
    path = tmp_path / "export.csv"
    path.write_text(HEADER + "\n".join(lines) + "\n", encoding="utf-8")
    main(["import", str(path), "--clinic", "dr-jenny"])
    store = BookingStore(f"sqlite:///{tmp_path}/booking.db")
    try:
        return {b.booking_id: b for b in store.iter_bookings("dr-jenny")}
    finally:
        store.close()


def aftercare(booking: Booking, policy: ClinicPolicy) -> set[str]:
    plan = plan_patient([booking], ProtocolRegistry.builtin(), policy)
    return {r.milestone for r in plan if r.milestone.startswith("aftercare-")}


def test_each_row_s_status_is_recorded_after_its_booking(imported: dict[str, Booking]) -> None:
    statuses = {bid: b.status.value for bid, b in imported.items()}
    assert statuses == {
        "bk-p1": "booked",
        "bk-p2": "attended",
        "bk-p3": "no_show",
        "bk-p4": "cancelled",
        "bk-f1": "booked",  # booked, but a visit days ahead cannot be attended yet
    }


def test_past_treatments_get_their_aftercare_under_assumed_and_only_attended_under_reported(
    imported: dict[str, Booking],
) -> None:
    stored = imported
    assumed, reported = ClinicPolicy(), ClinicPolicy(attendance="reported")
    assert aftercare(stored["bk-p1"], assumed) and aftercare(stored["bk-p2"], assumed)
    assert not aftercare(stored["bk-p3"], assumed) and not aftercare(stored["bk-p4"], assumed)
    assert not aftercare(stored["bk-p1"], reported)
    assert aftercare(stored["bk-p2"], reported)


def test_a_refused_status_is_reported_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLINIC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CLINIC_CLOCK_START", "2026-11-01T15:00:00+00:00")
    monkeypatch.setenv("COLUMNS", "300")
    path = tmp_path / "export.csv"
    rows = [
        f"{bid},p-{bid},Ann,+447700900123,microsclerotherapy,treatment,{ROWS[bid]}"
        for bid in ("bk-f1", "bk-x1")
    ]
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    assert main(["import", str(path), "--clinic", "dr-jenny"]) == 1
    out = capsys.readouterr().out
    assert "booked, but not marked attended" in out and "starts at 2026-11-05T10:00:00+00:00" in out
    assert "'maybe' is not one of booked, attended, no_show, cancelled" in out
