"""``clinic-reminders calendar sync FEED --clinic ID --mapping FILE --once``."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.booking.settings import BookingSettings
from services.booking.sources.calendar.sync import booking_id_for
from services.booking.store.store import BookingStore
from services.cli import main

SAMPLES = Path(__file__).parent / "samples"


@pytest.fixture
def environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CLINIC_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CLINIC_CLOCK_START", "2026-11-01T09:00:00+00:00")
    monkeypatch.delenv("CLINIC_BOOKING_DATABASE_URL", raising=False)
    return tmp_path


def _sync(*extra: str) -> int:
    return main(
        [
            "calendar",
            "sync",
            str(SAMPLES / "practice-calendar.ics"),
            "--clinic",
            "dr-jenny",
            "--mapping",
            str(SAMPLES / "dr-jenny-calendar.yaml"),
            "--once",
            *extra,
        ]
    )


def test_one_pass_books_reports_each_event_and_exits_1_on_rejections(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _sync()

    out = capsys.readouterr().out
    assert code == 1
    assert "3 created, 1 past, 1 ignored, 5 rejected" in out
    store = BookingStore(BookingSettings(var_dir=environment).database_url)
    try:
        booking = store.get("dr-jenny", booking_id_for("appt-20261110-0001@harleyveins.example"))
    finally:
        store.close()
    assert booking is not None and booking.patient.id == "pt-5530"


def test_a_second_pass_changes_nothing(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sync()
    capsys.readouterr()

    _sync()

    assert "3 unchanged" in capsys.readouterr().out


def test_an_unusable_mapping_file_exits_2(
    environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "calendar",
            "sync",
            str(SAMPLES / "practice-calendar.ics"),
            "--clinic",
            "dr-jenny",
            "--mapping",
            str(environment / "missing.yaml"),
            "--once",
        ]
    )

    assert code == 2
    assert "cannot use this feed" in capsys.readouterr().out
