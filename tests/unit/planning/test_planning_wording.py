"""The default wording: every template renders for a real plan, SMS stay short, facts are said."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.reminders.planning import due_event
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.events import Booking, Channel, ReminderDue
from services.shared.reply_words import ReplyWords
from tests.unit.planning.planning_helpers import REGISTRY, make_booking, plan

rendering = pytest.importorskip("services.notifier.messages.rendering")

TEMPLATES = Path(__file__).resolve().parents[3] / "services/notifier/templates/defaults"
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€")


def sms_segments(text: str) -> int:
    if all(ch in GSM7 or ch in GSM7_EXTENDED for ch in text):
        units = len(text) + sum(ch in GSM7_EXTENDED for ch in text)
        return 1 if units <= 160 else math.ceil(units / 153)
    return 1 if len(text) <= 70 else math.ceil(len(text) / 67)


def every_reminder(locale: str) -> list[ReminderDue]:
    """One due event per milestone, from bookings that between them fire all of them."""
    bookings: list[Booking] = [
        make_booking(kind="consultation"),
        make_booking(),
        make_booking(status="attended", session=1),
        make_booking(status="attended", session=3, planned=3),
        make_booking(status="no_show"),
    ]
    events = {}
    for booking in bookings:
        booking = booking.model_copy(
            update={"patient": booking.patient.model_copy(update={"locale": locale})}
        )
        for reminder in plan(booking):
            events[reminder.milestone] = due_event(
                booking, reminder, datetime(2026, 1, 1, tzinfo=UTC)
            )
    return list(events.values())


@pytest.mark.parametrize("locale", ["en-GB", "fr-FR"])
def test_every_template_renders_on_every_channel(locale: str) -> None:
    renderer = rendering.TemplateRenderer()
    events = every_reminder(locale)
    assert {e.template for e in events} == set(REGISTRY.get("microsclerotherapy").templates())
    for event in events:
        sms = renderer.render(event, Channel.SMS).text
        assert "{" not in sms and "None" not in sms, (event.template, sms)
        assert sms_segments(sms) <= 2, (event.template, len(sms), sms)
        email = renderer.render(event, Channel.EMAIL)
        assert email.subject and "\n" not in email.subject
        assert "None" not in email.text, (event.template, email.text)
        for text in (sms, email.subject, email.text):
            assert ".." not in text and " ." not in text, (event.template, text)


def test_french_wording_is_rendered_for_french_patients() -> None:
    renderer = rendering.TemplateRenderer()
    for event in every_reminder("fr-FR"):
        sms = renderer.render(event, Channel.SMS).text
        assert sms.startswith("Bonjour Ann,"), sms
        assert " the " not in sms


def _text(template: str, locale: str = "en-GB") -> str:
    return " ".join(
        (TEMPLATES / locale / f"{template}.{part}.j2").read_text(encoding="utf-8")
        for part in ("sms", "subject", "text")
    )


@pytest.mark.parametrize(
    ("template", "facts"),
    [
        (
            "consultation-suitability",
            [
                "pregnant",
                "breastfeeding",
                "thrombosis (DVT)",
                "contraceptive pill",
                "skin infection",
                "ulcers",
                "poor circulation",
                "venous or arterial disease",
                "allergic to the sclerosant",
                "surgery",
            ],
        ),
        (
            "consultation-assessment-advice",
            ["GP", "vascular surgeon", "phlebologist", "ultrasound"],
        ),
        ("consultation-separate-day", ["separate appointment", "same day"]),
        ("consultation-colder-months", ["colder months", "2 to 6 weeks", "months"]),
        ("treatment-consultation-fee", ["fully redeemable", "first treatment"]),
        (
            "treatment-prepare",
            [
                "compression stockings",
                "treatment_minutes_min",
                "no anaesthetic",
                "standing for long periods",
            ],
        ),
        ("treatment-reminder", ["compression stockings"]),
        ("aftercare-today", ["compression stockings", "standing for long periods"]),
        ("aftercare-hot-baths", ["hot baths and saunas", "no_hot_baths_latest"]),
        ("aftercare-redness", ["redness, swelling or bruising", "few days"]),
        ("aftercare-exercise", ["intense exercise", "no_intense_exercise_latest"]),
        ("aftercare-sun", ["sun", "tanning", "no_sun_min", "no_sun_max", "pigmentation"]),
        ("aftercare-stockings", ["stockings_min", "stockings_max"]),
        ("aftercare-staining", ["yellow-brown", "fading_min", "fading_max", "months"]),
        ("aftercare-clot-check", ["clots", "within 2 weeks"]),
        ("next-session-window", ["sessions_typical_min", "sessions_max", "next_session_earliest"]),
        ("next-session-nudge", ["window_latest"]),
        ("maintenance-recall", ["maintenance", "colder months"]),
    ],
)
def test_seed_facts_are_said_in_the_wording(template: str, facts: list[str]) -> None:
    text = _text(template)
    for fact in facts:
        assert fact in text, (template, fact)


@pytest.mark.parametrize(
    ("locale", "offer"),
    [
        ("en-GB", "Reply C to confirm or R to rearrange."),
        ("fr-FR", "Répondez C pour confirmer ou R pour reporter."),
    ],
)
def test_the_appointment_reminders_say_how_to_confirm_within_the_budget(
    locale: str, offer: str
) -> None:
    renderer = rendering.TemplateRenderer()
    reminders = {e.template: e for e in every_reminder(locale)}
    for template in ("consultation-reminder", "treatment-reminder"):
        sms = renderer.render(reminders[template], Channel.SMS).text
        assert sms.endswith(offer), sms
        assert sms_segments(sms) <= 2, (template, len(sms), sms)


def test_the_reminders_offer_the_clinics_own_reply_words() -> None:
    own = ReplyWords(confirm=("OK", "C"), rearrange=("MOVE",))
    clinics = ClinicDirectory({"dr-jenny": ClinicInfo(name="Dr Jenny", replies={"en": own})})
    reminders = {e.template: e for e in every_reminder("en-GB")}
    event = reminders["treatment-reminder"].model_copy(update={"clinic_id": "dr-jenny"})
    sms = rendering.TemplateRenderer(None, clinics).render(event, Channel.SMS).text
    assert sms.endswith("Reply OK to confirm or MOVE to rearrange."), sms
