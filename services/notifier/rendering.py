"""Rendering due reminders into SMS and email with the clinic's own Jinja2 templates.

Templates run in a sandbox (clinics edit them) with strict undefined
variables; each is compiled once and cached by the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    PrefixLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2.sandbox import SandboxedEnvironment

from services.notifier.exceptions import TemplateRenderError
from services.notifier.filters import FILTERS
from services.notifier.template_context import locale_chain, template_context
from services.shared.clinics import ClinicDirectory
from services.shared.events import Channel, ReminderDue

DEFAULTS_DIR = Path(__file__).parent / "templates" / "defaults"
LAYOUT = "_layout.html.j2"


@dataclass(frozen=True)
class RenderedMessage:
    """One channel's message, ready for its sender (``subject``/``html`` for email only)."""

    channel: Channel
    subject: str | None
    text: str
    html: str | None


def _is_html(name: str | None) -> bool:
    return name is not None and name.endswith(".html.j2")


class TemplateRenderer:
    """Renders a reminder for one channel from per-clinic overrides over the defaults.

    Look-up order for each file: ``{overrides_dir}/{clinic_id}/{locale}/``, then
    ``{overrides_dir}/{clinic_id}/``, then the built-in defaults, with the
    locale falling back ``fr-FR`` → ``fr`` → ``en-GB``.
    """

    def __init__(
        self,
        overrides_dir: Path | None = None,
        clinics: ClinicDirectory | None = None,
        defaults_dir: Path = DEFAULTS_DIR,
    ) -> None:
        loaders = {"default": FileSystemLoader(defaults_dir)}
        if overrides_dir is not None:
            loaders["clinic"] = FileSystemLoader(overrides_dir)
        self._has_overrides = overrides_dir is not None
        self._clinics = clinics or ClinicDirectory()
        self._env = SandboxedEnvironment(
            loader=PrefixLoader(loaders),
            undefined=StrictUndefined,
            autoescape=_is_html,
            trim_blocks=True,
            lstrip_blocks=True,
            cache_size=2000,
        )
        self._env.filters.update(FILTERS)
        self._resolved: dict[tuple[str, str, str], str] = {}

    def render(self, reminder: ReminderDue, channel: Channel) -> RenderedMessage:
        """Render ``reminder`` for ``channel``.

        Raises:
            TemplateRenderError: a file is missing, does not parse, names an
                undefined variable or tries something the sandbox forbids; the
                message names the template and the variable.
        """
        context = template_context(reminder, self._clinics.get(reminder.clinic_id))
        key = (reminder.clinic_id, reminder.patient.locale)
        if channel is Channel.SMS:
            text = self._render(key, f"{reminder.template}.sms.j2", context).strip()
            return RenderedMessage(channel, None, text, None)
        subject = " ".join(self._render(key, f"{reminder.template}.subject.j2", context).split())
        text = self._render(key, f"{reminder.template}.text.j2", context).strip()
        html = self._render(
            key, LAYOUT, {**context, "subject": subject, "paragraphs": paragraphs(text)}
        )
        return RenderedMessage(channel, subject, text + "\n", html)

    def _render(self, key: tuple[str, str], filename: str, context: dict[str, Any]) -> str:
        name, template = self._template(key, filename)
        try:
            return template.render(context)
        except (TemplateError, ValueError) as exc:
            raise TemplateRenderError(f"template {name}: {exc}") from exc

    def _template(self, key: tuple[str, str], filename: str) -> tuple[str, Template]:
        """The first file found along the look-up order; the choice is remembered."""
        cache_key = (*key, filename)
        known = self._resolved.get(cache_key)
        candidates = [known] if known else self._candidates(*key, filename)
        for name in candidates:
            try:
                template = self._env.get_template(name)
            except TemplateNotFound:
                continue
            except TemplateSyntaxError as exc:
                raise TemplateRenderError(
                    f"template {name} line {exc.lineno}: {exc.message}"
                ) from exc
            self._resolved[cache_key] = name
            return name, template
        if known:
            del self._resolved[cache_key]
            return self._template(key, filename)
        raise TemplateRenderError(
            f"template {filename} not found for clinic {key[0]!r}, locale {key[1]!r}"
        )

    def _candidates(self, clinic_id: str, locale: str, filename: str) -> list[str]:
        """The patient's language first, the clinic's wording before the default."""
        chain = locale_chain(locale)
        wanted = [loc for loc in chain if loc != "en-GB"] or ["en-GB"]
        fallback = [] if wanted == ["en-GB"] else ["en-GB"]
        names: list[str] = []
        if self._has_overrides:
            names += [f"clinic/{clinic_id}/{loc}/{filename}" for loc in wanted]
            names.append(f"clinic/{clinic_id}/{filename}")
        names += [f"default/{loc}/{filename}" for loc in wanted]
        for loc in fallback:
            if self._has_overrides:
                names.append(f"clinic/{clinic_id}/{loc}/{filename}")
            names.append(f"default/{loc}/{filename}")
        names.append(f"default/{filename}")
        return names


def paragraphs(text: str) -> list[list[str]]:
    """Plain text → paragraphs (split on blank lines) of lines, for the HTML layout."""
    blocks = [block.strip() for block in text.split("\n\n")]
    return [block.splitlines() for block in blocks if block]
