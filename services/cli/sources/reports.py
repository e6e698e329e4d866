"""How ``calendar sync`` and ``fhir sync`` print a pass: a table of what each item became,
then the counts."""

from __future__ import annotations

from rich.table import Table

from services.booking.sources.report import Outcome, SyncReport

COLOURS = {
    Outcome.CREATED: "green",
    Outcome.RESCHEDULED: "yellow",
    Outcome.CANCELLED: "magenta",
    Outcome.REJECTED: "red",
}


def report_table(report: SyncReport, item: str, changes_only: bool) -> Table:
    """One row per item (``item`` names the column); only changes and refusals when
    ``changes_only`` (a poll's later passes)."""
    table = Table(item, "booking", "result", "reason")
    quiet = (Outcome.UNCHANGED, Outcome.PAST) if changes_only else ()
    for r in (r for r in report.results if r.outcome not in quiet):
        colour = COLOURS.get(r.outcome, "cyan")
        table.add_row(r.uid, r.booking_id, f"[{colour}]{r.outcome.value}", r.reason)
    return table


def report_summary(report: SyncReport) -> str:
    """``3 created, 1 rejected``: each outcome that happened, and how often."""
    counts = ((o, report.count(o)) for o in Outcome)
    return ", ".join(f"{n} {o.value}" for o, n in counts if n)
