"""``clinic-reminders plan``: the whole timeline of one appointment, before a patient sees it.

By default every milestone the appointment can lead to, each marked with what
it waits for: ``booked`` (the reminders before it), ``attended`` (the aftercare
and the next session; ``attended (assumed)`` where the clinic's attendance is
assumed, so they are planned at booking), ``course completed`` (the maintenance
recall, once the last session of the course is over) and ``no-show``.
``--status`` narrows it to what one status plans.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
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
from services.reminders.planning.course import sessions_limit
from services.reminders.planning.protocol import BUILTIN_DIR
from services.shared.events import Booking, BookingStatus, Channel, Patient


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
        "--status",
        default=None,
        choices=["booked", "attended", "no_show", "cancelled"],
        help="only what this status plans (default: the whole timeline)",
    )
    parser.add_argument(
        "--attendance", default="assumed", choices=["assumed", "reported"], help="the clinic's"
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
        policy = ClinicPolicy(maintenance=args.maintenance, attendance=args.attendance)
        if args.status is None:
            planned = timeline(booking, registry, policy)
        else:
            planned = [(args.status, r) for r in plan_patient([booking], registry, policy)]
    except (ValueError, ZoneInfoNotFoundError, UnknownTreatment, ProtocolError) as exc:
        print(f"plan: {exc}", file=sys.stderr)
        return 2
    rows = [_row(booking, reminder, waits_for) for waits_for, reminder in planned]
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        _print_table(booking, rows)
    return 0


def timeline(
    booking: Booking, registry: ProtocolRegistry, policy: ClinicPolicy
) -> list[tuple[str, PlannedReminder]]:
    """Every reminder ``booking`` can lead to, each with what it waits for, by due time."""
    limit = sessions_limit(booking, registry.get(booking.treatment))
    attended = "attended (assumed)" if policy.attendance == "assumed" else "attended"
    scenarios = [
        ("booked", booking),
        (attended, booking.model_copy(update={"status": BookingStatus.ATTENDED})),
        (
            "course completed",
            booking.model_copy(
                update={
                    "status": BookingStatus.ATTENDED,
                    "session_number": max(booking.session_number, limit),
                }
            ),
        ),
        ("no-show", booking.model_copy(update={"status": BookingStatus.NO_SHOW})),
    ]
    reported = replace(policy, attendance="reported")  # each scenario plans only its own
    found: dict[str, tuple[str, PlannedReminder]] = {}
    for waits_for, scenario in scenarios:
        for reminder in plan_patient([scenario], registry, reported):
            found.setdefault(reminder.reminder_id, (waits_for, reminder))
    return sorted(found.values(), key=lambda pair: (pair[1].due_at, pair[1].reminder_id))


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
        status=args.status or "booked",
    )


def _row(booking: Booking, reminder: PlannedReminder, waits_for: str) -> dict[str, Any]:
    zone = ZoneInfo(booking.patient.timezone)
    return {
        "milestone": reminder.milestone,
        "waits_for": waits_for,
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
    from services.notifier.messages.rendering import TemplateRenderer

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
        title=f"{booking.treatment}: {booking.kind.value}, "
        f"{local_start:%a %d %b %Y %H:%M} ({booking.patient.timezone})"
    )
    for column in ("due (local)", "milestone", "waits for", "channels"):
        table.add_column(column, no_wrap=True)
    table.add_column("SMS preview", overflow="fold")
    for row in rows:
        due = datetime.fromisoformat(row["due_local"])
        table.add_row(
            f"{due:%a %d %b %Y %H:%M}",
            row["milestone"],
            row["waits_for"],
            ", ".join(row["channels"]),
            row["preview"],
        )
    Console().print(table)
