"""``tail``: follow a topic and show each record, decoded and masked."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import islice

from rich.console import Console
from rich.markup import escape

from services.ops.kafka_io import open_reader, read
from services.ops.records import decode_record
from services.ops.render import as_dict, header, summary
from services.shared.kafka_access import KafkaAccess


@dataclass(frozen=True)
class TailOptions:
    """What to follow and how long: ``limit`` records, or until ``idle_seconds`` pass."""

    kafka: KafkaAccess | str
    topic: str
    from_beginning: bool = False
    limit: int | None = None
    idle_seconds: float | None = None
    as_json: bool = False


def tail(options: TailOptions, console: Console) -> int:
    """Print records as they arrive; return how many were shown.

    Blocks until ``limit`` records were shown or ``idle_seconds`` passed with
    none (forever when both are None). Raises ``BrokerUnavailable`` or
    ``TopicNotFound`` before showing anything.
    """
    consumer = open_reader(options.kafka, client_id="clinic-ops-tail")
    shown = 0
    try:
        stream = read(
            consumer,
            options.topic,
            from_beginning=options.from_beginning,
            idle_seconds=options.idle_seconds,
        )
        for record in islice(stream, options.limit):
            decoded = decode_record(record)
            if options.as_json:
                console.file.write(json.dumps(as_dict(record, decoded)) + "\n")
                console.file.flush()
            elif decoded.event is not None:
                console.print(
                    f"[dim]{escape(header(record))}[/dim]  {escape(summary(decoded.event))}"
                )
            else:
                console.print(
                    f"[dim]{escape(header(record))}[/dim]  "
                    f"[red]undecodable[/red] ({escape(str(decoded.error))}): "
                    f"{escape(as_dict(record, decoded)['raw'][:200])}"
                )
            shown += 1
    finally:
        consumer.close()
    return shown
