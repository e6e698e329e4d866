"""Rendering due reminders into SMS and email with the clinic's own Jinja2 templates.

Templates run in a sandbox (clinics edit them) with strict undefined
variables and limits on size and time (:mod:`sandbox`); each is compiled once
and cached by the environment. Each clinic has an environment of its own that
sees only its own folder and the defaults, so no clinic's template can include
another's. Whatever goes wrong while loading or rendering one template fails
that delivery only, with the reason and the template's name.

Given the notifier's :class:`UnsubscribeLinks`, every email carries its
recipient's unsubscribe link: in ``List-Unsubscribe`` headers, at the foot of
the text, and in the HTML layout's footer, worded by ``_unsubscribe.j2``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
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

from services.notifier.exceptions import TemplateRenderError
from services.notifier.messages.filters import FILTERS
from services.notifier.messages.sandbox import LimitedSandbox, render_within
from services.notifier.messages.template_context import locale_chain, template_context
from services.notifier.patients.unsubscribe import UnsubscribeLinks
from services.shared.clinics import ClinicDirectory
from services.shared.events import Channel, ReminderDue

DEFAULTS_DIR = Path(__file__).parents[1] / "templates" / "defaults"
LAYOUT = "_layout.html.j2"
UNSUBSCRIBE = "_unsubscribe.j2"
RECHECK_SECONDS = 1.0
"""How long a template found is used before its file is looked for again."""


@dataclass(frozen=True)
class RenderedMessage:
    """One channel's message, ready for its sender (``subject``/``html``/``headers``: email)."""

    channel: Channel
    subject: str | None
    text: str
    html: str | None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Unsubscribe:
    url: str
    label: str
    headers: Mapping[str, str]


def _is_html(name: str | None) -> bool:
    return name is not None and name.endswith(".html.j2")


class TemplateRenderer:
    """Renders a reminder for one channel from per-clinic overrides over the defaults.

    Look-up order for each file: ``{overrides_dir}/{clinic_id}/{locale}/``, then
    ``{overrides_dir}/{clinic_id}/``, then the built-in defaults, with the
    locale falling back ``fr-FR`` → ``fr`` → ``en-GB``. Inside a clinic's
    environment its own folder is ``clinic/`` and the defaults ``default/``.
    """

    def __init__(
        self,
        overrides_dir: Path | None = None,
        clinics: ClinicDirectory | None = None,
        defaults_dir: Path = DEFAULTS_DIR,
        links: UnsubscribeLinks | None = None,
    ) -> None:
        self._overrides = overrides_dir
        self._links = links
        self._defaults = defaults_dir
        self._has_overrides = overrides_dir is not None
        self._clinics = clinics or ClinicDirectory()
        self._envs: dict[str, LimitedSandbox] = {}
        self._resolved: dict[tuple[str, str, str], str] = {}
        self._fresh: dict[tuple[str, str, str], tuple[str, Template, float]] = {}

    def _env(self, clinic_id: str) -> LimitedSandbox:
        """The clinic's own environment: its folder and the defaults, nothing else."""
        env = self._envs.get(clinic_id)
        if env is None:
            loaders = {"default": FileSystemLoader(self._defaults)}
            if self._overrides is not None:
                loaders["clinic"] = FileSystemLoader(self._overrides / clinic_id)
            env = self._envs[clinic_id] = LimitedSandbox(
                loader=PrefixLoader(loaders),
                undefined=StrictUndefined,
                autoescape=_is_html,
                trim_blocks=True,
                lstrip_blocks=True,
                cache_size=2000,
            )
            env.filters.update(FILTERS)
        return env

    def render(self, reminder: ReminderDue, channel: Channel) -> RenderedMessage:
        """Render ``reminder`` for ``channel``.

        Raises:
            TemplateRenderError: a file is missing, does not parse or cannot be
                read, names an undefined variable, tries something the sandbox
                forbids or passes its limits, or raises anything else; the
                message names the template and what went wrong.
        """
        context = template_context(reminder, self._clinics.get(reminder.clinic_id))
        key = (reminder.clinic_id, reminder.patient.locale)
        if channel is Channel.SMS:
            text = self._render(key, f"{reminder.template}.sms.j2", context).strip()
            return RenderedMessage(channel, None, text, None)
        return self._email(key, reminder, context)

    def _email(
        self, key: tuple[str, str], reminder: ReminderDue, context: dict[str, Any]
    ) -> RenderedMessage:
        subject = " ".join(self._render(key, f"{reminder.template}.subject.j2", context).split())
        text = self._render(key, f"{reminder.template}.text.j2", context).strip()
        layout = {**context, "subject": subject, "paragraphs": paragraphs(text)}
        out = self._unsubscribe(key, reminder, context)
        if out is None:
            html = self._render(key, LAYOUT, {**layout, "unsubscribe": None})
            return RenderedMessage(Channel.EMAIL, subject, text + "\n", html)
        shown = {"url": out.url, "label": out.label}
        html = self._render(key, LAYOUT, {**layout, "unsubscribe": shown})
        text = f"{text}\n\n{out.label}\n{out.url}\n"
        return RenderedMessage(Channel.EMAIL, subject, text, html, out.headers)

    def _unsubscribe(
        self, key: tuple[str, str], reminder: ReminderDue, context: dict[str, Any]
    ) -> _Unsubscribe | None:
        """The recipient's link and its wording, when this renderer makes links."""
        address = reminder.patient.email
        if self._links is None or address is None:
            return None
        label = " ".join(self._render(key, UNSUBSCRIBE, context).split())
        url = self._links.url(reminder.clinic_id, address)
        return _Unsubscribe(url, label, self._links.headers(reminder.clinic_id, address))

    def _render(self, key: tuple[str, str], filename: str, context: dict[str, Any]) -> str:
        name, template = self._template(key, filename)
        try:
            return render_within(template, context)
        except TemplateNotFound as exc:  # an include or import of a file it may not reach
            raise TemplateRenderError(
                f"template {self._shown(key, name)}: {exc.name} not found in the clinic's "
                "own folder or the defaults (a template reaches no other clinic's files)"
            ) from exc
        except TemplateError as exc:
            raise TemplateRenderError(f"template {self._shown(key, name)}: {exc}") from exc
        except Exception as exc:  # a clinic's template must never stop everyone's messages
            shown = self._shown(key, name)
            raise TemplateRenderError(f"template {shown}: {type(exc).__name__}: {exc}") from exc

    def _shown(self, key: tuple[str, str], name: str) -> str:
        """The template's name as a person finds it: ``clinic/{clinic_id}/...``, ``default/...``."""
        if name.startswith("clinic/"):
            return f"clinic/{key[0]}/{name.removeprefix('clinic/')}"
        return name

    def _template(self, key: tuple[str, str], filename: str) -> tuple[str, Template]:
        """The template along the look-up order, looked for again at most once a second
        (a clinic's edit shows within a second, without a file check per message)."""
        cache_key = (*key, filename)
        now = time.monotonic()
        fresh = self._fresh.get(cache_key)
        if fresh is not None and now - fresh[2] < RECHECK_SECONDS:
            return fresh[0], fresh[1]
        name, template = self._look_up(key, filename)
        self._fresh[cache_key] = (name, template, now)
        return name, template

    def _look_up(self, key: tuple[str, str], filename: str) -> tuple[str, Template]:
        """The first file found along the look-up order; the choice is remembered."""
        cache_key = (*key, filename)
        known = self._resolved.get(cache_key)
        candidates = [known] if known else self._candidates(*key, filename)
        env = self._env(key[0])
        for name in candidates:
            try:
                template = env.get_template(name)
            except TemplateNotFound:
                continue
            except TemplateSyntaxError as exc:
                raise TemplateRenderError(
                    f"template {self._shown(key, name)} line {exc.lineno}: {exc.message}"
                ) from exc
            except Exception as exc:  # unreadable (not UTF-8, a folder, no permission)
                shown = self._shown(key, name)
                raise TemplateRenderError(f"template {shown}: {type(exc).__name__}: {exc}") from exc
            self._resolved[cache_key] = name
            return name, template
        if known:
            del self._resolved[cache_key]
            return self._look_up(key, filename)
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
            names += [f"clinic/{loc}/{filename}" for loc in wanted]
            names.append(f"clinic/{filename}")
        names += [f"default/{loc}/{filename}" for loc in wanted]
        for loc in fallback:
            if self._has_overrides:
                names.append(f"clinic/{loc}/{filename}")
            names.append(f"default/{loc}/{filename}")
        names.append(f"default/{filename}")
        return names


def paragraphs(text: str) -> list[list[str]]:
    """Plain text → paragraphs (split on blank lines) of lines, for the HTML layout."""
    blocks = [block.strip() for block in text.split("\n\n")]
    return [block.splitlines() for block in blocks if block]
