"""``clinic-reminders import FILE.csv --clinic ID``: bookings from a spreadsheet export.

Writes through the booking store and its outbox, so the running booking service
publishes them (or publishes them when it next starts).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from services.booking.service import BookingService
from services.booking.sources.csv_import import RowResult, count_rows, import_rows
from services.cli.booking_service import booking_service


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "import",
        help="import bookings from a CSV file",
        description="Import bookings from a CSV file, one per row.",
    )
    parser.add_argument("file", type=Path, help="the CSV file (header row first)")
    parser.add_argument("--clinic", required=True, help="the clinic id the bookings belong to")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import, print a per-row report; 0 if every row was taken, 1 if any was rejected."""
    console = Console()
    if not args.file.is_file():
        console.print(f"[red]no such file: {args.file}[/red]")
        return 2
    with booking_service() as service:
        results = _import(args.file, args.clinic, service, console)
    console.print(_report(results))
    rejected = sum(r.outcome == "rejected" for r in results)
    console.print(f"{len(results) - rejected} taken, {rejected} rejected")
    return 1 if rejected else 0


def _import(path: Path, clinic: str, service: BookingService, console: Console) -> list[RowResult]:
    results = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"importing {path.name}", total=count_rows(path))
        for result in import_rows(path, clinic, service):
            results.append(result)
            progress.advance(task)
    return results


def _report(results: list[RowResult]) -> Table:
    table = Table("line", "booking", "result", "reason")
    colours = {"accepted": "green", "unchanged": "cyan", "rejected": "red"}
    for r in results:
        table.add_row(str(r.line), r.booking_id, f"[{colours[r.outcome]}]{r.outcome}", r.reason)
    return table
