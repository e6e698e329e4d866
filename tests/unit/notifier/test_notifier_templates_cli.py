"""``clinic-reminders templates check|preview`` on the real defaults and on a clinic's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli import main


def test_every_default_template_renders_in_both_locales(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "check"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].endswith(": 0 errors, 0 warnings")


def test_check_reports_a_broken_override_and_a_long_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = tmp_path / "dr-jenny" / "en-GB"
    own.mkdir(parents=True)
    (own / "aftercare-sun.sms.j2").write_text("Hi {{ patient.last_name }}")
    (own / "aftercare-staining.sms.j2").write_text("ça " * 60)
    code = main(["templates", "check", "--templates-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "ERROR   aftercare-sun [en-GB, sms]: template clinic/dr-jenny/en-GB/" in out
    assert "last_name" in out
    assert "WARNING aftercare-staining [en-GB, sms]: 3 UCS-2 segments (179 units), budget 2" in out


def test_preview_shows_the_french_sms_and_email(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["templates", "preview", "aftercare-stockings", "--locale", "fr-FR"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("--- SMS (")
    assert "Bonjour Jane" in out and "--- Email: " in out


def test_check_reports_hostile_templates_as_errors_not_tracebacks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    own = tmp_path / "dr-jenny" / "en-GB"
    own.mkdir(parents=True)
    (own / "aftercare-sun.sms.j2").write_text("{{ 1/0 }}")
    (own / "aftercare-redness.sms.j2").write_text("{% for i in range(10**9) %}{% endfor %}")
    (own / "aftercare-exercise.sms.j2").write_text("{{ 9**99999 }}")
    (own / "aftercare-staining.sms.j2").write_text(
        '{% include "clinic/other/en-GB/aftercare-sun.sms.j2" %}'
    )
    other = tmp_path / "other" / "en-GB"
    other.mkdir(parents=True)
    (other / "aftercare-sun.sms.j2").write_text("another clinic's words")
    code = main(["templates", "check", "--templates-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "Traceback" not in out
    for milestone, why in (
        ("aftercare-sun", "ZeroDivisionError"),
        ("aftercare-redness", "range of 1000000000"),
        ("aftercare-exercise", "too large"),
        ("aftercare-staining", "not found"),
    ):
        [line] = [x for x in out.splitlines() if x.startswith(f"ERROR   {milestone} [en-GB, sms]")]
        assert why in line, line


def test_check_with_no_flags_checks_every_clinic_under_the_configured_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As an administrator runs it after setting CLINIC_TEMPLATES_DIR: no --clinic given."""
    for clinic, text in (("dr-jenny", "Hi {{ patient.first_name }}"), ("dr-amir", "{{ 1/0 }}")):
        own = tmp_path / clinic / "en-GB"
        own.mkdir(parents=True)
        (own / "aftercare-sun.sms.j2").write_text(text)
    monkeypatch.setenv("CLINIC_TEMPLATES_DIR", str(tmp_path))
    code = main(["templates", "check"])
    out = capsys.readouterr().out
    assert code == 1
    [line] = [x for x in out.splitlines() if x.startswith("ERROR")]
    assert "template clinic/dr-amir/en-GB/aftercare-sun.sms.j2" in line and "ZeroDivision" in line
    assert "2 clinics (dr-amir, dr-jenny): 1 errors" in out.splitlines()[-1]
