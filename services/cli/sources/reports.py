"""How ``calendar sync`` and ``fhir sync`` follow a source and print its passes: one pass and
every item's result (``--once``), or, while polling, what changed and each refusal once."""

from __future__ import annotations

import contextlib

from rich.console import Console
from rich.table import Table

from services.booking.sources.poller import SourcePass, SourcePoller
from services.booking.sources.report import EventResult, Outcome, SyncReport

COLOURS = {
    Outcome.CREATED: "green",
    Outcome.RESCHEDULED: "yellow",
    Outcome.CANCELLED: "magenta",
    Outcome.REJECTED: "red",
}
QUIET = (Outcome.UNCHANGED, Outcome.PAST)
"""What a poll's later passes leave out: nothing happened to it."""


def follow(kind: str, item: str, source: SourcePass, once: bool, every: float) -> int:
    """One pass (exit 0, or 1 if any item was refused; 3 if the source could not be read),
    or a pass every ``every`` seconds until interrupted (0). ``item`` names the column."""
    console = Console()
    shown: set[tuple[str, str]] = set()
    code = {"exit": 0}

    def reported(_: str, report: SyncReport) -> None:
        fresh = list(report.results) if once else _news(report, shown)
        if fresh or once:
            console.print(report_table(fresh, item))
            console.print(report_summary(report) or f"no {item}s")
        code["exit"] = 1 if report.rejected else 0

    def failed(_: str, exc: Exception) -> None:
        console.print(f"[red]pass failed: {exc}[/red]")
        code["exit"] = 3

    poller = SourcePoller(kind, [source], every, reported, failed)
    if once:
        poller.poll_once()
        return code["exit"]
    with contextlib.suppress(KeyboardInterrupt):
        poller.run()
    return 0


def _news(report: SyncReport, shown: set[tuple[str, str]]) -> list[EventResult]:
    """The results worth a line while polling: changes, and each refusal the first time."""
    news = []
    for result in report.results:
        if result.outcome in QUIET:
            continue
        if result.outcome is Outcome.REJECTED:
            if (result.uid, result.reason) in shown:
                continue
            shown.add((result.uid, result.reason))
        news.append(result)
    return news


def report_table(results: list[EventResult], item: str) -> Table:
    """One row per result; ``item`` names the first column."""
    table = Table(item, "booking", "result", "reason")
    for r in results:
        colour = COLOURS.get(r.outcome, "cyan")
        table.add_row(r.uid, r.booking_id, f"[{colour}]{r.outcome.value}", r.reason)
    return table


def report_summary(report: SyncReport) -> str:
    """``3 created, 1 rejected``: each outcome that happened, and how often."""
    counts = ((o, report.count(o)) for o in Outcome)
    return ", ".join(f"{n} {o.value}" for o, n in counts if n)
