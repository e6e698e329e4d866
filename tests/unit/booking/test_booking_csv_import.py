"""``clinic-reminders import``: each row accepted or rejected with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.booking.store.store import BookingStore
from services.cli import main

SAMPLE = Path(__file__).parent / "samples" / "bookings.csv"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLINIC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CLINIC_CLOCK_START", "2026-11-01T09:00:00+00:00")
    monkeypatch.setenv("COLUMNS", "200")
    return tmp_path


def test_the_sample_file_imports_with_a_reason_per_rejected_row(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["import", str(SAMPLE), "--clinic", "dr-jenny"])

    out = capsys.readouterr().out
    store = BookingStore(f"sqlite:///{env}/booking.db")
    stored = {b.booking_id: b for b in store.iter_bookings("dr-jenny")}
    assert code == 1
    assert set(stored) == {"bk-2001", "bk-2002", "bk-2006"}
    assert stored["bk-2002"].start.isoformat() == "2026-12-02T13:15:00+00:00"
    assert stored["bk-2002"].patient.consent.email is False
    assert [e.source for e in store.history("dr-jenny", "bk-2006")] == ["csv"]
    assert store.outbox.backlog() == 3
    assert "patient.phone" in out and "patient.email" in out
    assert "unknown treatment 'botox'" in out
    assert "too far in the past" in out
    assert "3 taken, 3 rejected" in out


def test_importing_the_same_file_again_changes_nothing(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["import", str(SAMPLE), "--clinic", "dr-jenny"])
    capsys.readouterr()

    main(["import", str(SAMPLE), "--clinic", "dr-jenny"])

    out = capsys.readouterr().out
    assert out.count("unchanged") == 3
    assert BookingStore(f"sqlite:///{env}/booking.db").outbox.backlog() == 3


def test_a_missing_file_is_named(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(env / "nope.csv"), "--clinic", "dr-jenny"]) == 2
    assert "nope.csv" in capsys.readouterr().out
