"""``clinic-reminders plan``: the whole timeline of one appointment, before a patient sees it."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.reminders.planning import (
    ClinicPolicy,
    PlannedReminder,
    ProtocolError,
    ProtocolRegistry,
    UnknownTreatment,
    due_event,
    plan_patient,
)
from services.reminders.planning.protocol import BUILTIN_DIR
from services.shared.events import Booking, Channel, Patient


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("plan", help="preview the reminders of one appointment")
    parser.add_argument("--protocol", required=True, help="treatment, e.g. microsclerotherapy")
    parser.add_argument(
        "--kind", default="treatment", choices=["consultation", "treatment", "review"]
    )
    parser.add_argument(
        "--start",
        required=True,
        type=datetime.fromisoformat,
        help="local start, e.g. 2026-12-01T10:00",
    )
    parser.add_argument("--tz", default="Europe/London", help="patient's IANA time zone")
    parser.add_argument("--duration", type=int, default=45, help="minutes")
    parser.add_argument("--session", type=int, default=1)
    parser.add_argument("--sessions-planned", type=int, default=None)
    parser.add_argument(
        "--status", default="booked", choices=["booked", "attended", "no_show", "cancelled"]
    )
    parser.add_argument("--locale", default="en-GB")
    parser.add_argument("--clinic", default="dr-jenny", help="clinic id whose wording to use")
    parser.add_argument("--maintenance", default="annual", choices=["annual", "biannual"])
    parser.add_argument(
        "--protocols-dir",
        type=Path,
        action="append",
        default=[],
        help="a directory of the clinic's own protocols (may repeat)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=plan_command)


def plan_command(args: argparse.Namespace) -> int:
    """Print the plan; exit 2 on a bad time zone, unknown treatment or invalid protocol."""
    try:
        booking = _booking(args)
        registry = ProtocolRegistry.from_dirs(BUILTIN_DIR, *args.protocols_dir)
        planned = plan_patient([booking], registry, ClinicPolicy(maintenance=args.maintenance))
    except (ValueError, ZoneInfoNotFoundError, UnknownTreatment, ProtocolError) as exc:
        print(f"plan: {exc}", file=sys.stderr)
        return 2
    rows = [_row(booking, reminder) for reminder in planned]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        _print_table(booking, rows)
    return 0


def _booking(args: argparse.Namespace) -> Booking:
    zone = ZoneInfo(args.tz)
    return Booking(
        clinic_id=args.clinic,
        booking_id="preview",
        treatment=args.protocol,
        patient=Patient(id="preview", first_name="Alex", locale=args.locale, timezone=args.tz),
        kind=args.kind,
        session_number=args.session,
        sessions_planned=args.sessions_planned,
        start=args.start.replace(tzinfo=zone),
        duration_minutes=args.duration,
        status=args.status,
    )


def _row(booking: Booking, reminder: PlannedReminder) -> dict[str, Any]:
    zone = ZoneInfo(booking.patient.timezone)
    return {
        "milestone": reminder.milestone,
        "due_utc": reminder.due_at.isoformat(),
        "due_local": reminder.due_at.astimezone(zone).isoformat(),
        "stale_utc": reminder.stale_at.isoformat() if reminder.stale_at else None,
        "channels": [channel.value for channel in reminder.channels],
        "template": reminder.template,
        "context": dict(reminder.context),
        "preview": _preview(booking, reminder),
    }


def _preview(booking: Booking, reminder: PlannedReminder) -> str:
    """The SMS text in the patient's language, or the reason it cannot be rendered."""
    from services.notifier.exceptions import TemplateRenderError
    from services.notifier.rendering import TemplateRenderer

    event = due_event(booking, reminder, emitted_at=reminder.due_at)
    try:
        return TemplateRenderer().render(event, Channel.SMS).text
    except TemplateRenderError as exc:
        return f"(cannot render: {exc})"


def _print_table(booking: Booking, rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    local_start = booking.start.astimezone(ZoneInfo(booking.patient.timezone))
    table = Table(
        title=f"{booking.treatment}: {booking.kind.value} {booking.status.value}, "
        f"{local_start:%a %d %b %Y %H:%M} ({booking.patient.timezone})"
    )
    for column in ("due (local)", "milestone", "channels", "SMS preview"):
        table.add_column(column, overflow="fold")
    for row in rows:
        due = datetime.fromisoformat(row["due_local"])
        table.add_row(
            f"{due:%a %d %b %Y %H:%M}", row["milestone"], ", ".join(row["channels"]), row["preview"]
        )
    Console().print(table)
