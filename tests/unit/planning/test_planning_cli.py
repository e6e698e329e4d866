"""``clinic-reminders plan`` and ``clinic-reminders protocols validate``."""

from __future__ import annotations

import json

import pytest

from services.cli import main
from services.reminders.planning.protocol import BUILTIN_DIR
from tests.unit.planning.planning_helpers import WriteProtocol, minimal_protocol

pytest.importorskip("services.notifier.messages.rendering")

PLAN = [
    "plan",
    "--protocol",
    "microsclerotherapy",
    "--kind",
    "treatment",
    "--start",
    "2026-12-01T10:00",
    "--tz",
    "Europe/London",
]


def test_plan_json_lists_the_timeline_with_previews(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main([*PLAN, "--session", "1", "--sessions-planned", "3", "--status", "attended", "--json"])
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    sun = next(r for r in rows if r["milestone"] == "aftercare-sun")
    assert sun["due_utc"] == "2026-12-04T10:00:00+00:00"
    assert sun["due_local"] == "2026-12-04T10:00:00+00:00"
    assert sun["channels"] == ["sms", "email"] and sun["template"] == "aftercare-sun"
    assert "tanning" in sun["preview"] and "Tue 29 Dec" in sun["preview"]
    assert [r["due_utc"] for r in rows] == sorted(r["due_utc"] for r in rows)


def test_plan_previews_in_french(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*PLAN, "--locale", "fr-FR", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    prepare = next(r for r in rows if r["milestone"] == "treatment-prepare")
    assert "bas de contention" in prepare["preview"]


def test_plan_table_is_readable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(PLAN) == 0
    out = capsys.readouterr().out
    assert "treatment-prepare" in out and "treatment-reminder" in out


def test_plan_shows_the_whole_timeline_with_what_each_waits_for(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*PLAN, "--sessions-planned", "3", "--json"]) == 0
    waits = {r["milestone"]: r["waits_for"] for r in json.loads(capsys.readouterr().out)}
    assert waits["treatment-reminder"] == "booked"
    assert waits["aftercare-sun"] == "attended (assumed)"
    assert waits["maintenance-recall"] == "course completed"
    assert waits["rebook-after-no-show"] == "no-show"


def test_plan_status_narrows_and_reported_attendance_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main([*PLAN, "--attendance", "reported", "--json"]) == 0
    waits = {r["milestone"]: r["waits_for"] for r in json.loads(capsys.readouterr().out)}
    assert waits["aftercare-sun"] == "attended"
    assert main([*PLAN, "--status", "no_show", "--json"]) == 0
    only = {r["milestone"] for r in json.loads(capsys.readouterr().out)}
    assert only == {"rebook-after-no-show"}


def test_plan_unknown_treatment_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--protocol", "botox", "--start", "2026-12-01T10:00"]) == 2
    assert "known: microsclerotherapy" in capsys.readouterr().err


def test_validate_ok_and_error(
    capsys: pytest.CaptureFixture[str], write_protocol: WriteProtocol
) -> None:
    assert main(["protocols", "validate", str(BUILTIN_DIR / "microsclerotherapy.yaml")]) == 0
    assert "ok: microsclerotherapy v1" in capsys.readouterr().out
    bad = write_protocol(minimal_protocol(milestone="aftercare-day-3", offset="soon"), "own.yaml")
    assert main(["protocols", "validate", str(bad)]) == 1
    assert capsys.readouterr().err.startswith(
        "own.yaml: milestone 'aftercare-day-3': field 'offset': "
    )
