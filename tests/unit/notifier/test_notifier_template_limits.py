"""A clinic's broken or hostile template fails its own deliveries, and nobody else's."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from services.notifier.exceptions import TemplateRenderError
from services.notifier.messages.rendering import TemplateRenderer
from services.shared.events import Channel
from tests.support.reminders import patient, reminder

HOSTILE = {
    "raises": ("{{ 1/0 }}", "ZeroDivisionError"),
    "huge range": ("{% for i in range(10**9) %}{{ i }}{% endfor %}", "range of 1000000000"),
    "huge number": ("{{ 10**5000 }}", "too large"),
    "a minute of CPU": ("{% set n = 9**8 %}{{ (9**n) > 1 }}", "too large"),
    "huge string": ("{{ 'x' * 10**7 }}", "repeat of 10000000"),
    "loops for long": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "ran longer than",
    ),
    "another clinic's file": ('{% include "clinic/other-clinic/en-GB/secret.sms.j2" %}', "secret"),
}


def clinic_folders(root: Path, text: str) -> Path:
    (root / "dr-jenny" / "en-GB").mkdir(parents=True)
    (root / "dr-jenny" / "en-GB" / "pre-treatment.sms.j2").write_text(text)
    (root / "other-clinic" / "en-GB").mkdir(parents=True)
    (root / "other-clinic" / "en-GB" / "secret.sms.j2").write_text("a secret of another clinic")
    (root / "other-clinic" / "en-GB" / "pre-treatment.sms.j2").write_text(
        "Hi {{ patient.first_name }}"
    )
    return root


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_template_fails_its_delivery_with_the_reason_and_path(
    tmp_path: Path, defaults_dir: Path, name: str
) -> None:
    text, why = HOSTILE[name]
    rendering = TemplateRenderer(
        clinic_folders(tmp_path / "clinics", text), defaults_dir=defaults_dir
    )
    began = time.monotonic()
    with pytest.raises(TemplateRenderError) as failed:
        rendering.render(reminder(), Channel.SMS)
    assert time.monotonic() - began < 5
    message = str(failed.value)
    assert "clinic/dr-jenny/en-GB/pre-treatment.sms.j2" in message, message
    if name == "another clinic's file":
        assert "not found" in message or "secret.sms.j2" in message
        assert "a secret of another clinic" not in message
    else:
        assert why in message, message

    other = reminder(clinic_id="other-clinic", patient=patient())
    assert rendering.render(other, Channel.SMS).text == "Hi Jane"


def test_a_template_that_is_not_utf8_fails_with_its_path(
    tmp_path: Path, defaults_dir: Path
) -> None:
    root = clinic_folders(tmp_path / "clinics", "")
    (root / "dr-jenny" / "en-GB" / "pre-treatment.sms.j2").write_bytes(b"Hi \xff\xfe")
    with pytest.raises(
        TemplateRenderError, match=re.escape("clinic/dr-jenny/en-GB/pre-treatment.sms.j2")
    ):
        TemplateRenderer(root, defaults_dir=defaults_dir).render(reminder(), Channel.SMS)


def test_ordinary_arithmetic_and_loops_still_work(tmp_path: Path, defaults_dir: Path) -> None:
    text = "{% for i in range(3) %}{{ i * 2 }}{% endfor %} {{ 2 ** 10 }} {{ '-' * 3 }}"
    rendering = TemplateRenderer(
        clinic_folders(tmp_path / "clinics", text), defaults_dir=defaults_dir
    )
    assert rendering.render(reminder(), Channel.SMS).text == "024 1024 ---"


BUILDS_TOO_MUCH = {
    "center filter": "{{ 'x'|center(10**7) }}",
    "center method": "{{ 'x'.center(10**7) }}",
    "join of a long list": '{{ (range(10000)|list)|join("x" * 10000) }}',
    "join method": '{{ ("x" * 10000).join(range(10000)|list) }}',
    "replace": '{{ ("a" * 10000)|replace("a", "b" * 10000) }}',
    "printf width": '{{ "%99999999d"|format(1) }}',
    "percent width": '{{ "%99999999d" % 1 }}',
    "format method width": '{{ "{:>99999999}".format(1) }}',
    "indent": '{{ ("a\\n" * 5000)|indent(10000) }}',
    "output of many small parts": "{% for i in range(10000) %}{{ 'x' * 9000 }}{% endfor %}",
}


@pytest.mark.parametrize("name", sorted(BUILDS_TOO_MUCH))
def test_a_template_that_would_build_a_huge_text_is_refused_before_it_does(
    tmp_path: Path, defaults_dir: Path, name: str
) -> None:
    rendering = TemplateRenderer(
        clinic_folders(tmp_path / "clinics", BUILDS_TOO_MUCH[name]), defaults_dir=defaults_dir
    )
    with pytest.raises(TemplateRenderError) as failed:
        rendering.render(reminder(), Channel.SMS)
    message = str(failed.value)
    assert "clinic/dr-jenny/en-GB/pre-treatment.sms.j2" in message
    assert "100000" in message, message


def test_ordinary_filters_and_methods_still_work(tmp_path: Path, defaults_dir: Path) -> None:
    text = (
        "[{{ 'ab'|center(6) }}]{{ [1, 2]|join(', ') }}|{{ 'a-b'|replace('-', '+') }}|"
        "{{ '%05.1f'|format(2.5) }}|{{ '{:>4}'.format(7) }}|{{ 'x'.rjust(3, '.') }}"
    )
    rendering = TemplateRenderer(
        clinic_folders(tmp_path / "clinics", text), defaults_dir=defaults_dir
    )
    assert rendering.render(reminder(), Channel.SMS).text == "[  ab  ]1, 2|a+b|002.5|   7|..x"
