"""The page's views, gathered from the sources as JSON-ready, masked dicts.

Each source is read on its own: one that is down is named in ``down`` with its
reason and its part of the view is left empty; the rest is still shown.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict, is_dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar

from services.ops.status import Status
from services.ops.web.broker import DeadLetterRow
from services.ops.web.journey import journey_of
from services.ops.web.reconcile import reconcile
from services.ops.web.shaping import DueReminder, hourly_series, totals
from services.ops.web.sources import SourceDown, Sources
from services.shared.fields import mask_payload, mask_record

WINDOW = timedelta(hours=24)
PAYLOAD_SHOWN = 300
"""Characters of a dead letter's payload shown; enough to recognise it."""
T = TypeVar("T")


def overview(sources: Sources, now: datetime) -> dict[str, Any]:
    """Per-clinic hourly outcomes, the day's reconciliation, broker and dead letters."""
    since = now - WINDOW
    down: dict[str, str] = {}
    status = sources.status()
    rows = _read(down, lambda: sources.ledger_since(since))
    due: list[DueReminder] = []
    letters: list[DeadLetterRow] = []
    if status.broker_reachable:
        due = _read(down, sources.due_reminders)
        letters = _read(down, sources.dead_letters)
    else:
        down["broker"] = f"no Kafka broker answered at {status.bootstrap}"
    said = {f"{source}: {reason}" for source, reason in down.items()}
    notes = [n for n in status.notes if n not in said and not n.startswith("no Kafka broker")]
    series = hourly_series(rows, now)
    view = {
        "at": now,
        "since": since,
        "down": down,
        "notes": notes,
        "totals": totals(h for hours in series.values() for h in hours),
        "clinics": [
            {"clinic_id": c, "totals": totals(hours), "hours": hours} for c, hours in series.items()
        ],
        "reconciliation": [
            {**asdict(r), "difference": r.difference} for r in reconcile(due, rows, since, now)
        ],
        "dead_letters": [_shown(letter) for letter in letters],
        "worker": status.worker,
        "broker": _broker(status),
    }
    return masked(view)


def _shown(letter: DeadLetterRow) -> dict[str, Any]:
    # Masked before it is cut, so that a cut never leaves part of a field unmasked.
    return {**jsonable(letter), "payload": mask_payload(letter.payload)[:PAYLOAD_SHOWN]}


def booking(
    sources: Sources, booking_id: str, reveal: bool = False, clinic_id: str | None = None
) -> dict[str, Any]:
    """One booking's journey: its events, the worker's plan for it, its deliveries.

    Masked, unless ``reveal`` (an admin's audited reveal of this one booking).
    ``clinic_id``: only that clinic's booking of that id (clinics choose their ids,
    so two may use the same one); every clinic's otherwise, listed in ``clinics``.
    """
    down: dict[str, str] = {}
    stored = _read(down, lambda: sources.bookings(booking_id))
    deliveries = _read(down, lambda: sources.ledger_for_booking(booking_id))
    if clinic_id is not None:
        stored = [s for s in stored if s.booking.clinic_id == clinic_id]
        deliveries = [d for d in deliveries if d.clinic_id == clinic_id]
    known = stored[0].booking if stored else None
    plan = sources.worker_booking(
        booking_id, known.clinic_id if known else clinic_id, known.patient.id if known else None
    )
    if plan.note:
        down["reminders worker"] = plan.note
    view = journey_of(booking_id, stored, plan, deliveries, down)
    return jsonable(view) if reveal else masked(view)


def inbox(sources: Sources, clinic_id: str | None, show_all: bool) -> dict[str, Any]:
    """The replies inbox: one clinic's texts or every clinic's, unread ones or all."""
    down: dict[str, str] = {}
    unread: dict[str, int] = {}
    try:
        unread = sources.unread_replies()
    except SourceDown as exc:
        down[exc.source] = exc.reason
    rows = _read(down, lambda: sources.replies(clinic_id, not show_all))
    view = {
        "clinic_id": clinic_id,
        "show": "all" if show_all else "unread",
        "unread": dict(sorted(unread.items())),
        "total_unread": sum(unread.values()),
        "replies": [{**vars(r), "summary": r.summary, "unread": not r.handled_at} for r in rows],
        "down": down,
    }
    return masked(view)


def reply(sources: Sources, message_sid: str) -> dict[str, Any] | None:
    """One reply in full, unmasked, for an admin's audited reveal; None if there is none.

    Raises ``SourceDown`` when the inbox cannot be read.
    """
    found = [r for r in sources.replies(None, False) if r.message_sid == message_sid]
    if not found:
        return None
    r = found[0]
    out: dict[str, Any] = jsonable({**vars(r), "summary": r.summary, "unread": not r.handled_at})
    return out


def dead_letter(sources: Sources, letter_id: str) -> dict[str, Any] | None:
    """One dead letter in full, unmasked, its payload laid out when it is JSON; None if none.

    Raises ``SourceDown`` when the broker cannot be read.
    """
    found = [d for d in sources.dead_letters() if d.id == letter_id]
    if not found:
        return None
    out: dict[str, Any] = jsonable(found[0])
    with contextlib.suppress(ValueError):
        out["payload"] = json.dumps(json.loads(out["payload"]), indent=2, ensure_ascii=False)
    return out


def _broker(status: Status) -> dict[str, Any]:
    lag: dict[str, int] = {}
    for row in status.lag:
        lag[row.group] = lag.get(row.group, 0) + row.lag
    return {
        "bootstrap": status.bootstrap,
        "reachable": status.broker_reachable,
        "topics": [
            {"name": t.name, "partitions": t.partitions, "records": t.records}
            for t in status.topics
        ],
        "lag": [{**asdict(row), "lag": row.lag} for row in status.lag],
        "lag_by_group": lag,
        "outbox_backlog": status.outbox_backlog,
    }


def _read(down: dict[str, str], read: Callable[[], list[T]]) -> list[T]:
    try:
        return read()
    except SourceDown as exc:
        down[exc.source] = exc.reason
        return []


def masked(view: dict[str, Any]) -> dict[str, Any]:
    """``view`` as plain JSON types, every personal field masked, and every phone number
    and email address in the rest."""
    out: dict[str, Any] = mask_record(jsonable(view))
    return out


def jsonable(value: Any) -> Any:
    """Dataclasses, datetimes, enums and tuples turned into JSON types, recursively."""
    if is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in vars(value).items()}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
