"""Template folders written by the tests themselves, standing in for the defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notifier.messages.rendering import DEFAULTS_DIR

WORDING = {
    "en-GB/pre-treatment.sms.j2": (
        "Hi {{ patient.first_name }}, see you {{ appointment.start | short_date }} at "
        "{{ appointment.start | time }}. {{ clinic.name }} {{ clinic.phone }}\n"
    ),
    "en-GB/pre-treatment.subject.j2": "Your treatment on {{ appointment.start | date }}\n",
    "en-GB/pre-treatment.text.j2": (
        "Dear {{ patient.first_name }},\n\nYour session {{ appointment.session_number }} "
        "is on {{ appointment.start | date }} at {{ appointment.start | time }}.\n"
        "Bring your stockings.\n\n{{ clinic.sign_off }}\n"
    ),
    "fr-FR/pre-treatment.sms.j2": (
        "Bonjour {{ patient.first_name }}, rendez-vous le {{ appointment.start | date }} à "
        "{{ appointment.start | time }}.\n"
    ),
    "en-GB/course.sms.j2": "Book your next session by {{ ctx.next_session_by | date }}.",
}


@pytest.fixture
def defaults_dir(tmp_path: Path) -> Path:
    """Default wording in en-GB and fr-FR (SMS only), with the real layout."""
    root = tmp_path / "defaults"
    for name, text in WORDING.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    (root / "_layout.html.j2").write_text((DEFAULTS_DIR / "_layout.html.j2").read_text())
    return root
