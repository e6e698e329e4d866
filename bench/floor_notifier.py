"""The notifier's I/O floor, as issue 30 defines it: what delivering a due reminder costs
before any of the notifier's own decisions.

One loop in one process: a kafka-python consumer like the notifier's (the same
group settings, ``POLL_RECORDS`` a poll) reads the due records, decodes each
with the shared contract, renders its messages from the same default templates
(compiled once, in a plain Jinja2 environment with the same filters and the same
variables), writes one ledger row per message to the notifier's own ledger
table in one transaction per poll, appends each message as a JSON line to the
same sink files, and commits the poll's offsets. No consent, quiet hours, rate
limits, send-time checks, sandbox, masking, retries or status events.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from kafka import KafkaConsumer
from sqlalchemy import insert

from services.notifier.delivery.ledger import LedgerState, deliveries, metadata, new_row
from services.notifier.messages.filters import FILTERS
from services.notifier.messages.rendering import DEFAULTS_DIR, LAYOUT, paragraphs
from services.notifier.messages.template_context import template_context
from services.notifier.senders.local import SINK_FILES, sink_line
from services.shared.clinics import ClinicDirectory
from services.shared.database import create_tables, make_engine
from services.shared.events import Channel, ReminderDue, decode


class FloorNotifier:
    """Delivers every due record ``consumer`` reads to the sinks under ``outbox``."""

    def __init__(self, consumer: KafkaConsumer, database_url: str, outbox: Path) -> None:
        self._consumer = consumer
        self._engine = make_engine(database_url)
        create_tables(metadata, self._engine)
        self._outbox = outbox
        outbox.mkdir(parents=True, exist_ok=True)
        self._env = Environment(
            loader=FileSystemLoader(DEFAULTS_DIR),
            undefined=StrictUndefined,
            autoescape=lambda name: name is not None and name.endswith(".html.j2"),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._env.filters.update(FILTERS)
        self._templates: dict[str, Template] = {}
        self._clinics = ClinicDirectory()

    def deliver(self, messages: int, timeout: float = 600.0) -> float:
        """Deliver until ``messages`` lines are written; seconds from the first poll."""
        began = time.perf_counter()
        written = 0
        while written < messages:
            if time.perf_counter() - began > timeout:
                raise TimeoutError(f"the floor wrote {written} of {messages} in {timeout}s")
            polled = self._consumer.poll(timeout_ms=200)
            records = [r for batch in polled.values() for r in batch]
            if records:
                written += self._one_poll([decode(ReminderDue, r.value) for r in records])
                self._consumer.commit()
        return time.perf_counter() - began

    def _one_poll(self, reminders: list[ReminderDue]) -> int:
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        lines: dict[Channel, list[str]] = {}
        for reminder in reminders:
            context = template_context(reminder, self._clinics.get(reminder.clinic_id))
            for channel in reminder.channels:
                to, body, extra = self._message(reminder, channel, context)
                line = sink_line(reminder, channel, to, body, extra, now.isoformat())
                lines.setdefault(channel, []).append(line)
                rows.append(_row(reminder, channel, now))
        with self._engine.begin() as connection:
            connection.execute(insert(deliveries), rows)
        for channel, written in lines.items():
            with (self._outbox / SINK_FILES[channel]).open("a", encoding="utf-8") as out:
                out.writelines(written)
        return len(rows)

    def _message(
        self, reminder: ReminderDue, channel: Channel, context: dict[str, Any]
    ) -> tuple[str, str, dict[str, Any]]:
        """The address, the text and (for email) the subject, HTML and headers."""
        name = reminder.template
        if channel is Channel.SMS:
            return reminder.patient.phone or "", self._render(f"{name}.sms.j2", context).strip(), {}
        subject = " ".join(self._render(f"{name}.subject.j2", context).split())
        text = self._render(f"{name}.text.j2", context).strip()
        layout = {**context, "subject": subject, "paragraphs": paragraphs(text)}
        html = self._render(LAYOUT, {**layout, "unsubscribe": None}, localised=False)
        extra = {"subject": subject, "html": html, "headers": {}}
        return reminder.patient.email or "", text + "\n", extra

    def _render(self, filename: str, context: dict[str, Any], localised: bool = True) -> str:
        name = f"{context['_locale']}/{filename}" if localised else filename
        template = self._templates.get(name)
        if template is None:
            template = self._templates[name] = self._env.get_template(name)
        return template.render(context)


def _row(reminder: ReminderDue, channel: Channel, now: datetime) -> dict[str, object]:
    """The row the notifier leaves for a message the local sink took."""
    row = new_row(reminder, channel, LedgerState.SENT, None, now)
    return row | {"attempts": 1, "provider_id": f"local-{channel.value}-{reminder.reminder_id}"}
