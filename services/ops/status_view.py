"""``status`` on one screen: rich tables of broker, topics, lag, deliveries and backlogs."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from services.ops.status import Status
from services.shared.masking import mask_text

TANSU_NOTE = (
    "end offsets corrected for the embedded broker, which reports them short by the "
    "records in the last batch less one"
)
RAW_NOTE = "end offsets as the broker reports them (on the embedded broker, lag can read low)"


def print_status(status: Status, console: Console) -> None:
    state = "[green]reachable[/green]" if status.broker_reachable else "[red]unreachable[/red]"
    console.print(f"[bold]clinic-reminders status[/bold] at {status.at:%Y-%m-%d %H:%M:%SZ}")
    console.print(f"broker {status.bootstrap}: {state}")
    if status.topics:
        console.print(_topics(status))
    if status.lag:
        console.print(_lag(status))
    console.print(_work(status))
    if len(status.worker.workers) > 1:
        console.print(_workers(status))
    if status.deliveries is not None:
        console.print(_deliveries(status))
        if status.deliveries.failures:
            console.print(_failures(status))
    for note in status.notes:
        console.print(f"[yellow]note[/yellow]: {mask_text(note)}", markup=True)


def _topics(status: Status) -> Table:
    table = Table(title="topics", caption=TANSU_NOTE if status.exact_offsets else RAW_NOTE)
    for column in ("topic", "partitions", "end offsets", "records"):
        table.add_column(column)
    for topic in status.topics:
        ends = " ".join(f"{p}:{e}" for p, e in sorted(topic.end_offsets.items()))
        parts = str(topic.partitions) if topic.partitions else "[red]missing[/red]"
        table.add_row(topic.name, parts, ends, str(topic.records))
    return table


def _lag(status: Status) -> Table:
    table = Table(title="consumer lag")
    for column in ("group", "topic", "partition", "committed", "end", "lag"):
        table.add_column(column)
    for row in status.lag:
        lag = f"[red]{row.lag}[/red]" if row.lag else "0"
        table.add_row(
            row.group, row.topic, str(row.partition), str(row.committed), str(row.end), lag
        )
    return table


def _work(status: Status) -> Table:
    table = Table(title="work waiting")
    table.add_column("what")
    table.add_column("count")
    table.add_row("reminders pending", _maybe(status.worker.pending))
    table.add_row("reminders due in the next hour", _maybe(status.worker.due_soon))
    table.add_row("booking outbox backlog", _maybe(status.outbox_backlog))
    return table


def _workers(status: Status) -> Table:
    table = Table(title="reminders workers")
    for column in ("address", "worker", "partitions counted", "pending", "due in the next hour"):
        table.add_column(column, overflow="fold")
    for w in status.worker.workers:
        if w.note is not None:
            table.add_row(w.url, "", f"[yellow]{escape(mask_text(w.note))}[/yellow]", "", "")
            continue
        counted = " ".join(str(p) for p in w.counted) or "none"
        table.add_row(w.url, w.worker_id or "?", counted, _maybe(w.pending), _maybe(w.due_soon))
    return table


def _deliveries(status: Status) -> Table:
    assert status.deliveries is not None
    counts = status.deliveries
    table = Table(title="deliveries (delivery ledger)")
    for column in ("state", "channel", "last hour", "all"):
        table.add_column(column)
    for state in sorted(counts.all):
        for channel in sorted(counts.all[state]):
            recent = counts.recent.get(state, {}).get(channel, 0)
            table.add_row(state, channel, str(recent), str(counts.all[state][channel]))
    return table


def _failures(status: Status) -> Table:
    assert status.deliveries is not None
    table = Table(title="failures in the last hour")
    for column in ("channel", "reason", "count"):
        table.add_column(column, overflow="fold")
    for channel, reason, count in status.deliveries.failures:
        table.add_row(channel, mask_text(reason), str(count))
    return table


def _maybe(value: int | None) -> str:
    return "unknown" if value is None else str(value)
