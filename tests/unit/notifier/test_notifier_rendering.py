"""Rendering: locales and their fallback, clinic overrides, strictness, sandbox, escaping."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifier.exceptions import TemplateRenderError
from services.notifier.messages.rendering import TemplateRenderer
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.events import Channel
from tests.support.reminders import patient, reminder

CLINICS = ClinicDirectory(
    {
        "dr-jenny": ClinicInfo(
            name="Dr Jenny's <Vein> Clinic", phone="+442071234567", sign_off="Jenny & team"
        )
    }
)


def renderer(defaults: Path, overrides: Path | None = None) -> TemplateRenderer:
    return TemplateRenderer(overrides, CLINICS, defaults_dir=defaults)


def test_sms_in_english_in_the_patients_zone(defaults_dir: Path) -> None:
    message = renderer(defaults_dir).render(reminder(), Channel.SMS)
    assert message.text == (
        "Hi Jane, see you Tue 1 Dec at 10:00. Dr Jenny's <Vein> Clinic +442071234567"
    )
    assert message.subject is None and message.html is None


def test_sms_in_french_in_paris_time(defaults_dir: Path) -> None:
    french = patient(locale="fr-FR", timezone="Europe/Paris")
    message = renderer(defaults_dir).render(reminder(patient=french), Channel.SMS)
    assert message.text == "Bonjour Jane, rendez-vous le mardi 1 décembre 2026 à 11:00."


def test_missing_french_wording_falls_back_to_english_keeping_french_dates(
    defaults_dir: Path,
) -> None:
    french = patient(locale="fr-FR", timezone="Europe/Paris")
    message = renderer(defaults_dir).render(reminder(patient=french), Channel.EMAIL)
    assert message.subject == "Your treatment on mardi 1 décembre 2026"


def test_iso_strings_from_the_reminder_context_are_formatted(defaults_dir: Path) -> None:
    message = renderer(defaults_dir).render(reminder(template="course"), Channel.SMS)
    assert message.text == "Book your next session by Tuesday 12 January 2027."


def test_clinic_override_wins_over_the_default(defaults_dir: Path, tmp_path: Path) -> None:
    own = tmp_path / "clinics" / "dr-jenny" / "fr"
    own.mkdir(parents=True)
    (own / "pre-treatment.sms.j2").write_text("Chère {{ patient.first_name }} !")
    french = reminder(patient=patient(locale="fr-FR"))
    assert renderer(defaults_dir, tmp_path / "clinics").render(french, Channel.SMS).text == (
        "Chère Jane !"
    )
    other_clinic = reminder(clinic_id="other", patient=patient(locale="fr-FR"))
    text = renderer(defaults_dir, tmp_path / "clinics").render(other_clinic, Channel.SMS).text
    assert text.startswith("Bonjour Jane")


def test_email_html_wraps_the_text_and_escapes_it(defaults_dir: Path) -> None:
    message = renderer(defaults_dir).render(reminder(), Channel.EMAIL)
    assert message.text.startswith("Dear Jane,\n\nYour session 1 is on Tuesday 1 December 2026")
    assert message.html is not None
    assert "Dr Jenny&#39;s &lt;Vein&gt; Clinic" in message.html
    assert "Jenny &amp; team" in message.html
    assert "at 10:00.<br>Bring your stockings.</p>" in message.html
    assert "<Vein>" not in message.html


def test_html_escapes_what_a_patient_typed(defaults_dir: Path) -> None:
    sneaky = patient(first_name="<script>alert(1)</script>")
    html = renderer(defaults_dir).render(reminder(patient=sneaky), Channel.EMAIL).html or ""
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_undefined_variable_is_an_error_naming_template_and_variable(defaults_dir: Path) -> None:
    (defaults_dir / "en-GB" / "pre-treatment.sms.j2").write_text("Hi {{ patient.surname }}")
    with pytest.raises(TemplateRenderError, match=r"en-GB/pre-treatment\.sms\.j2.*surname"):
        renderer(defaults_dir).render(reminder(), Channel.SMS)


def test_missing_template_is_an_error_naming_it(defaults_dir: Path) -> None:
    with pytest.raises(TemplateRenderError, match=r"nothing\.sms\.j2 not found"):
        renderer(defaults_dir).render(reminder(template="nothing"), Channel.SMS)


def test_sandbox_blocks_unsafe_attribute_access(defaults_dir: Path) -> None:
    (defaults_dir / "en-GB" / "pre-treatment.sms.j2").write_text(
        "{{ patient.__class__.__mro__[1].__subclasses__() }}"
    )
    with pytest.raises(TemplateRenderError, match="unsafe"):
        renderer(defaults_dir).render(reminder(), Channel.SMS)


def test_templates_are_compiled_once(defaults_dir: Path) -> None:
    rendering = renderer(defaults_dir)
    rendering.render(reminder(), Channel.SMS)
    env = rendering._env("dr-jenny")  # the clinic's own environment
    first = env.get_template("default/en-GB/pre-treatment.sms.j2")
    rendering.render(reminder(), Channel.SMS)
    assert env.get_template("default/en-GB/pre-treatment.sms.j2") is first
