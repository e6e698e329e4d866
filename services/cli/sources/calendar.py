"""``clinic-reminders calendar sync FEED --clinic ID [--mapping FILE] [--once]``.

Follows a clinic calendar (.ics file or http(s)/webcal URL): new events are
booked, moved ones rescheduled, cancelled or removed ones cancelled, through
the booking store and its outbox, so the booking service publishes them.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from services.booking.settings import CalendarFeedSettings
from services.booking.sources.calendar.state import CalendarState
from services.booking.sources.calendar.sync import CalendarSync, build_feed
from services.cli.booking_service import booking_service
from services.cli.sources.reports import follow


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calendar", help="follow a clinic calendar feed (.ics)", description=__doc__
    )
    actions = parser.add_subparsers(dest="calendar_command", required=True)
    sync = actions.add_parser("sync", help="book, move and cancel from an .ics feed")
    sync.add_argument("feed", help="the .ics file, or its http(s) or webcal address")
    sync.add_argument("--clinic", required=True, help="the clinic id the bookings belong to")
    sync.add_argument("--mapping", type=Path, help="the clinic's calendar mapping (YAML)")
    sync.add_argument("--name", help="names the feed's saved state (default: from FEED)")
    sync.add_argument("--once", action="store_true", help="one pass, then exit")
    sync.add_argument("--every", type=float, default=60.0, help="seconds between passes")
    sync.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """One pass (exit 0, or 1 if any event was rejected), or poll until interrupted (0)."""
    console = Console()
    try:
        entry = CalendarFeedSettings(
            clinic_id=args.clinic, url=args.feed, mapping=args.mapping, name=args.name
        )
        feed = build_feed(entry)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot use this feed: {exc}[/red]")
        return 2
    with booking_service() as service:
        calendar = CalendarSync(feed, service, CalendarState(service.store.engine))
        return follow("calendar", "event", calendar, args.once, args.every)
