"""How dead letters are shown: a table, one letter in full, or JSON; always masked, the
payload by field (a booking's first name, phone, email, treatment) and the rest by pattern."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from services.ops.dlq import Letter
from services.shared.fields import mask_record
from services.shared.masking import mask_text


def letter_dict(letter: Letter, full: bool = False) -> dict[str, Any]:
    """The letter for ``--json``: where it sits, where it came from, why; payload if ``full``."""
    out: dict[str, Any] = {"id": letter.id, "dlq": letter.record.coordinates}
    dead = letter.letter
    if dead is None:
        out["error"] = letter.error
        return out
    out |= {
        "occurred_at": dead.occurred_at.isoformat(),
        "service": dead.service,
        "topic": dead.topic,
        "partition": dead.partition,
        "offset": dead.offset,
        "key": mask_text(dead.key) if dead.key is not None else None,
        "reason": mask_text(dead.reason),
    }
    if full:
        out["payload"] = _payload(dead.payload)
    return out


def _payload(text: str) -> Any:
    try:
        return mask_record(json.loads(text))
    except ValueError:
        return mask_record(text)


def print_table(letters: list[Letter], console: Console) -> None:
    table = Table(title=f"{len(letters)} dead letter(s)")
    for column in ("id", "time", "from topic/partition/offset", "key", "service", "reason"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        row = letter_dict(letter)
        if letter.letter is None:
            table.add_row(row["id"], "", "", "", "", f"[red]{row['error']}[/red]")
            continue
        origin = f"{row['topic']}/{row['partition']}/{row['offset']}"
        table.add_row(
            row["id"], row["occurred_at"], origin, row["key"] or "-", row["service"], row["reason"]
        )
    console.print(table)


def print_letter(letter: Letter, console: Console) -> None:
    row = letter_dict(letter, full=True)
    payload = row.pop("payload", None)
    table = Table(show_header=False, title=f"dead letter {letter.id}")
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for name, value in row.items():
        table.add_row(name, str(value))
    console.print(table)
    if isinstance(payload, dict | list):
        console.print_json(json.dumps(payload))
    elif payload is not None:
        console.print(payload, markup=False)
