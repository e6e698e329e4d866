"""``clinic-reminders templates check|preview``: see the clinics' wording before a patient does."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from services.notifier.exceptions import TemplateRenderError
from services.notifier.messages.rendering import DEFAULTS_DIR, TemplateRenderer
from services.notifier.messages.samples import sample_context, sample_reminder, template_ids
from services.notifier.messages.segments import count_segments
from services.notifier.patients.unsubscribe import UnsubscribeLinks
from services.shared.clinics import ClinicDirectory
from services.shared.events import Channel

LOCALES = ("en-GB", "fr-FR")
SAMPLE_LINKS = UnsubscribeLinks(
    b"a sample key: these links are only shown", "https://notify.example"
)
"""Emails are checked and previewed with their unsubscribe footer, as patients see them."""


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("templates", help="check or preview message templates")
    sub = parser.add_subparsers(dest="templates_command", required=True)
    check = sub.add_parser("check", help="render every template with sample data")
    _common(check, every_clinic=True)
    check.set_defaults(func=check_command)
    preview = sub.add_parser("preview", help="show one template rendered with sample data")
    preview.add_argument("milestone", help="template id, e.g. aftercare-stockings")
    preview.add_argument("--locale", default="en-GB")
    _common(preview)
    preview.set_defaults(func=preview_command)


def _common(parser: argparse.ArgumentParser, every_clinic: bool = False) -> None:
    parser.add_argument(
        "--templates-dir",
        type=Path,
        default=_from_environment("CLINIC_TEMPLATES_DIR"),
        help="per-clinic overrides (default: CLINIC_TEMPLATES_DIR)",
    )
    parser.add_argument(
        "--clinics-file",
        type=Path,
        default=_from_environment("CLINIC_CLINICS_FILE"),
        help="clinic names, phones, sign-offs, segment budgets (default: CLINIC_CLINICS_FILE)",
    )
    every = " (default: every clinic with templates or in the clinics file)"
    parser.add_argument(
        "--clinic",
        default=None if every_clinic else "dr-jenny",
        help="clinic id to render for" + (every if every_clinic else ""),
    )


def _from_environment(name: str) -> Path | None:
    return Path(os.environ[name]) if os.environ.get(name) else None


def _renderer(args: argparse.Namespace) -> tuple[TemplateRenderer, ClinicDirectory]:
    clinics = ClinicDirectory.from_yaml(args.clinics_file)
    return TemplateRenderer(args.templates_dir, clinics, links=SAMPLE_LINKS), clinics


def _clinics_to_check(args: argparse.Namespace, clinics: ClinicDirectory) -> list[str]:
    """``--clinic``, else every clinic with a folder of templates or a clinics-file entry."""
    if args.clinic:
        return [args.clinic]
    found = set(clinics.ids())
    if args.templates_dir is not None and args.templates_dir.is_dir():
        found |= {p.name for p in args.templates_dir.iterdir() if p.is_dir()}
    return sorted(found) or ["dr-jenny"]


def check_command(args: argparse.Namespace) -> int:
    """Render every template in every locale for both channels, for every clinic (or
    ``--clinic``); exit 1 on any error."""
    renderer, clinics = _renderer(args)
    roots = [DEFAULTS_DIR] + ([args.templates_dir] if args.templates_dir else [])
    ids = sorted({t for root in roots for t in template_ids(root)})
    checked = _clinics_to_check(args, clinics)
    errors = warnings = 0
    for clinic in checked:
        found = _check_clinic(renderer, roots, ids, clinic, clinics.get(clinic).sms_segment_budget)
        errors, warnings = errors + found[0], warnings + found[1]
    print(
        f"{len(ids)} templates, {len(LOCALES)} locales, {len(checked)} clinics "
        f"({', '.join(checked)}): {errors} errors, {warnings} warnings"
    )
    return 1 if errors else 0


def _check_clinic(
    renderer: TemplateRenderer, roots: list[Path], ids: list[str], clinic: str, budget: int
) -> tuple[int, int]:
    errors = warnings = 0
    for template in ids:
        context = {k: v for root in roots for k, v in sample_context(root, template).items()}
        for locale in LOCALES:
            reminder = sample_reminder(template, locale, clinic, context)
            for channel in (Channel.SMS, Channel.EMAIL):
                try:
                    message = renderer.render(reminder, channel)
                except TemplateRenderError as exc:
                    errors += 1
                    print(f"ERROR   {template} [{locale}, {channel.value}]: {exc}")
                    continue
                if channel is Channel.SMS:
                    counted = count_segments(message.text)
                    if counted.segments > budget:
                        warnings += 1
                        print(
                            f"WARNING {template} [{locale}, sms]: {counted.segments} "
                            f"{counted.encoding} segments ({counted.units} units), "
                            f"budget {budget} (clinic {clinic})"
                        )
    return errors, warnings


def preview_command(args: argparse.Namespace) -> int:
    """Print the SMS and the email (subject and text) of one template, as a patient sees them."""
    renderer, _ = _renderer(args)
    roots = [DEFAULTS_DIR] + ([args.templates_dir] if args.templates_dir else [])
    context = {k: v for root in roots for k, v in sample_context(root, args.milestone).items()}
    reminder = sample_reminder(args.milestone, args.locale, args.clinic, context)
    try:
        sms = renderer.render(reminder, Channel.SMS)
        email = renderer.render(reminder, Channel.EMAIL)
    except TemplateRenderError as exc:
        print(f"ERROR   {exc}")
        return 1
    counted = count_segments(sms.text)
    print(f"--- SMS ({counted.segments} {counted.encoding} segments, {counted.units} units)")
    print(sms.text)
    print(f"--- Email: {email.subject}")
    print(email.text, end="")
    return 0
