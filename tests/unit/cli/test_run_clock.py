"""The launcher's demo clock carries on across restarts; the real clock is never saved."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from services.cli.run_clock import SavedClock

DEMO = {"CLINIC_TIME_SCALE": "3600", "CLINIC_CLOCK_START": "2026-12-01T09:00:00+00:00"}


def test_a_demo_clock_carries_on_from_where_the_last_run_saved_it(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    first = SavedClock(path, DEMO)
    assert not first.resumed
    first.save()
    saved = datetime.fromisoformat(json.loads(path.read_text())["now"])

    again = SavedClock(path, DEMO)
    assert again.resumed
    assert again.clock.scale == 3600
    assert saved <= again.clock.now() < datetime.fromisoformat("2026-12-01T12:00:00+00:00")


def test_other_settings_start_afresh(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    SavedClock(path, DEMO).save()
    moved = {**DEMO, "CLINIC_CLOCK_START": "2027-01-01T09:00:00+00:00"}
    fresh = SavedClock(path, moved)
    assert not fresh.resumed
    assert fresh.clock.now() >= datetime.fromisoformat("2027-01-01T09:00:00+00:00")


def test_the_real_clock_is_never_saved_and_a_broken_file_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    SavedClock(path, {}).save()
    assert not path.exists()
    path.write_text("{not json")
    assert not SavedClock(path, DEMO).resumed
