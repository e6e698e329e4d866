"""Count what became of every due reminder, from the providers' own records and the ledger.

A pair is *sent* when a provider accepted it exactly once, *duplicate* when a
provider accepted it more than once (whatever the ledger says), and otherwise
takes the ledger's word: failed, skipped or unknown, each with its reason. A
pair the worker skipped (stale, or moot after a booking change) shows only on
the status topic (its ledger row, if a retry had begun, stays ``pending``).
A retry whose next attempt comes only after the notifier was stopped (held
for quiet hours past the end) is *pending at the end*, with its reason. Anything
else that was expected is *missing*, a retry overdue at the end among them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import create_engine, select

from services.notifier.delivery.ledger import deliveries
from services.notifier.delivery.retry import useful_until
from services.shared.database import stored_utc
from services.shared.events import Channel, DeliveryState, NotificationStatus
from tests.faults.expected import Due, ExpectedSet, Window, longest_chance
from tests.support.providers import AcceptedSms, ReceivedEmail

Key = tuple[str, Channel]


@dataclass(frozen=True)
class Row:
    reminder_id: str
    channel: Channel
    state: str
    reason: str | None
    provider_id: str | None
    booking_id: str
    created_at: datetime | None = None
    """The first attempt (or the first outcome recorded)."""
    next_attempt_at: datetime | None = None


@dataclass
class Tally:
    sent: int = 0
    sent_ledger_unknown: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    pending: Counter[str] = field(default_factory=Counter)
    """A retry still waiting when the run ended, its next attempt after it (quiet hours)."""
    held: list[str] = field(default_factory=list)
    """Those retries, each with its next attempt and its last failure."""
    duplicates: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexplained: list[str] = field(default_factory=list)
    optional_sent: int = 0
    optional_not_sent: int = 0
    deferred: int = 0
    """In flight when the broker was lost, emitted again at the resync, held past the window."""
    after_cut_off: int = 0
    """Sent, though due only after the cut-off (the window's end raced the worker)."""
    not_current: list[str] = field(default_factory=list)
    """Sent for a plan no longer current (cancelled, moved, made moot): asserted zero."""
    gave_up: list[str] = field(default_factory=list)
    """Required pairs whose retries were given up though the notifier had time to try
    again (still of use after the outage): asserted zero."""
    gave_up_late: int = 0
    """Given up with no stretch of ``margin`` to try again in between the first try and
    the last useful moment: its provider refused everything, the notifier was down, or
    quiet hours held it, for all but moments of it."""
    provider_sms: int = 0
    provider_email: int = 0
    drifted: list[str] = field(default_factory=list)
    """Steps of the story that ran later than the driver's tolerance (asserted none)."""
    problems: list[str] = field(default_factory=list)
    """A restart that never came back, a broker fault that failed (asserted none)."""
    latest: timedelta = timedelta(0)
    """How late the latest step ran."""
    slowest: list[str] = field(default_factory=list)
    """The latest sends, each split into the worker's part and the notifier's."""

    def table(self) -> str:
        lines = [
            f"{'outcome':<58} {'count':>6}",
            f"{'sent (provider accepted once)':<58} {self.sent:>6}",
            f"{'  of which the ledger says unknown (killed mid-send)':<58} "
            f"{self.sent_ledger_unknown:>6}",
        ]
        for title, counts in (("failed", self.failed), ("skipped", self.skipped)):
            for reason, count in sorted(counts.items()):
                lines.append(f"{title + ': ' + reason:<58.58} {count:>6}")
        for reason, count in sorted(self.unknown.items()):
            lines.append(f"{'unknown: ' + reason:<58.58} {count:>6}")
        for reason, count in sorted(self.pending.items()):
            lines.append(f"{'pending at the end: ' + reason:<58.58} {count:>6}")
        lines += [
            f"{'duplicates (a provider accepted a pair twice)':<58} {len(self.duplicates):>6}",
            f"{'missing (due, no provider record, no outcome)':<58} {len(self.missing):>6}",
            f"{'unexplained provider records (no ledger row)':<58} {len(self.unexplained):>6}",
            f"{'optional pairs (at a change or the cut-off) sent':<58} {self.optional_sent:>6}",
            f"{'optional pairs not sent':<58} {self.optional_not_sent:>6}",
            f"{'deferred: re-emitted at the resync, held past the window':<58} {self.deferred:>6}",
            f"{'sent, due only after the cut-off':<58} {self.after_cut_off:>6}",
            f"{'sent for a plan no longer current':<58} {len(self.not_current):>6}",
            f"{'retries given up though there was time to try again':<58} {len(self.gave_up):>6}",
            f"{'  given up with no time to try again (outage, down, quiet)':<58} "
            f"{self.gave_up_late:>6}",
            f"{'provider records: SMS accepted / emails received':<58} "
            f"{self.provider_sms:>3}/{self.provider_email:<3}",
            f"{'latest step (platform hours behind its time)':<58} "
            f"{self.latest.total_seconds() / 3600:>6.2f}",
            *self.slowest,
        ]
        return "\n".join(lines)


def slowest(
    expected: ExpectedSet,
    emitted: Mapping[str, datetime],
    ledger: Mapping[Key, Row],
    count: int = 5,
) -> list[str]:
    """The ``count`` pairs that reached the notifier latest after falling due (platform
    hours), each split at the moment the worker emitted it (``emitted``: reminder id to
    its ``emitted_at``, from the due topic)."""
    late = []
    for key, due in [*expected.required.items(), *expected.optional.items()]:
        row, at = ledger.get(key), emitted.get(key[0])
        if row is None or row.created_at is None or at is None:
            continue
        worker, notifier = at - due.fires_at, row.created_at - at
        late.append((worker + notifier, worker, notifier, due, key[1]))
    late.sort(key=lambda item: item[0], reverse=True)
    return [
        f"late {total.total_seconds() / 3600:5.1f} h: worker {worker.total_seconds() / 3600:5.1f}"
        f" h, notifier {notifier.total_seconds() / 3600:5.1f} h ({due.booking.booking_id}"
        f" {due.milestone}/{channel.value}, due {due.fires_at:%a %H:%M})"
        for total, worker, notifier, due, channel in late[:count]
    ]


def read_ledger(url: str) -> dict[Key, Row]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(deliveries)).mappings().all()
    finally:
        engine.dispose()
    return {
        (r["reminder_id"], Channel(r["channel"])): Row(
            r["reminder_id"],
            Channel(r["channel"]),
            r["state"],
            r["reason"],
            r["provider_id"],
            r["booking_id"],
            stored_utc(r["created_at"]),
            stored_utc(r["next_attempt_at"]) if r["next_attempt_at"] else None,
        )
        for r in rows
    }


def short(reason: str | None) -> str:
    """A reason without its instants, addresses and numbers, to group by."""
    text = reason or "(no reason)"
    text = re.sub(r"\d{4}-\d\d-\d\dT[\d:.+]+", "<time>", text)
    text = re.sub(r"[\w.+-]+@[\w.-]+", "<address>", text)
    return re.sub(r"\s+", " ", text)[:48]


def provider_counts(
    sms: Iterable[AcceptedSms],
    emails: Iterable[ReceivedEmail],
    ledger: dict[Key, Row],
    expected: ExpectedSet,
) -> tuple[Counter[Key], list[str]]:
    """How often each pair reached a provider; provider records no ledger row explains."""
    counts: Counter[Key] = Counter()
    unexplained: list[str] = []
    by_sid = {row.provider_id: key for key, row in ledger.items() if row.provider_id}
    for email in emails:
        match = re.match(r"<([0-9a-f]+)\.email@clinic-reminders>", email.message_id)
        key = (match.group(1), Channel.EMAIL) if match else None
        if key is None or key not in ledger:
            unexplained.append(f"email {email.message_id} to {email.to}")
            continue
        counts[key] += 1
    for text in sms:
        key = by_sid.get(text.sid) or _interrupted_sms(text, ledger, expected)
        if key is None:
            unexplained.append(f"sms {text.sid} to {text.to}: {text.body[:60]!r}")
            continue
        counts[key] += 1
    return counts, unexplained


def _interrupted_sms(
    text: AcceptedSms, ledger: dict[Key, Row], expected: ExpectedSet
) -> Key | None:
    """A text the notifier was killed before recording: its booking's one ``unknown`` SMS row."""
    booking = expected.patients.get(text.to)
    if booking is None:
        return None
    candidates = [
        key
        for key, row in ledger.items()
        if row.booking_id == booking.booking_id
        and key[1] is Channel.SMS
        and row.state == "unknown"
        and row.provider_id is None
    ]
    return candidates[0] if len(candidates) == 1 else None


def tally(
    expected: ExpectedSet,
    ledger: dict[Key, Row],
    counts: Counter[Key],
    unexplained: list[str],
    statuses: Iterable[NotificationStatus],
    margin: timedelta = timedelta(0),
    ended: datetime | None = None,
    blocked: Mapping[Channel, list[Window]] | None = None,
) -> Tally:
    """What became of each expected pair; ``ended`` is when the notifier was stopped,
    ``blocked`` when each channel could not send (its provider's outages and the
    notifier's downtime)."""
    result = Tally(unexplained=unexplained)
    skips = {
        (s.reminder_id, s.channel): s.reason
        for s in statuses
        if s.state is DeliveryState.SKIPPED and s.reason
    }
    for key, times in counts.items():
        if times > 1:
            result.duplicates.append(f"{key[0]}/{key[1].value} accepted {times} times")
    for key, due in expected.required.items():
        _judge(
            result, key, counts[key], ledger.get(key), skips.get(key), due, margin, ended,
            blocked or {},
        )  # fmt: skip
    for key in expected.optional:
        if counts[key]:
            result.optional_sent += 1
        else:
            result.optional_not_sent += 1
    known = set(expected.required) | set(expected.optional)
    for key in (k for k in counts if k not in known):
        if key in expected.later:
            result.after_cut_off += 1
        else:
            result.not_current.append(f"{key[0]}/{key[1].value}: sent, but no current plan held it")
    return result


def _judge(
    result: Tally,
    key: Key,
    times: int,
    row: Row | None,
    skip: str | None,
    due: Due,
    margin: timedelta,
    ended: datetime | None,
    blocked: Mapping[Channel, list[Window]],
) -> None:
    if times >= 1:
        result.sent += 1
        if row is not None and row.state == "unknown":
            result.sent_ledger_unknown += 1
    elif row is not None and row.state == "failed":
        result.failed[short(row.reason)] += 1
        if (row.reason or "").startswith("gave up"):
            until = useful_until(due.fires_at, due.stale_at, due.booking.start)
            tried = row.created_at or due.fires_at
            if longest_chance(tried, until, blocked.get(key[1], ()), due.booking) < margin:
                result.gave_up_late += 1
            else:
                result.gave_up.append(f"{key[0]}/{key[1].value} {due.milestone}: {row.reason}")
    elif row is not None and row.state == "skipped":
        result.skipped[short(row.reason)] += 1
    elif row is not None and row.state == "unknown":
        result.unknown[short(row.reason)] += 1
    elif row is None and skip is not None:
        result.skipped["worker: " + short(skip)] += 1
    elif row is not None and row.state == "pending" and skip is not None:
        # Nothing went out (a retry was pending when the broker was lost), and the
        # worker, re-planning after the resync, skipped it with its reason.
        result.skipped["worker: " + short(skip) + " (ledger pending)"] += 1
    elif row is None and due.deferred_to is not None:
        result.deferred += 1
    elif _held_past(row, ended):
        assert row is not None and row.next_attempt_at is not None
        result.pending[short(row.reason)] += 1
        result.held.append(
            f"{key[0]}/{key[1].value} {due.milestone}: next try {row.next_attempt_at:%a %H:%M},"
            f" after {row.reason}"
        )
    else:
        state = row.state if row else "no ledger row"
        result.missing.append(f"{key[0]}/{key[1].value} {due.milestone}: {state}")


def _held_past(row: Row | None, ended: datetime | None) -> bool:
    """A retry whose next attempt was due only after the notifier was stopped."""
    if row is None or row.state != "pending" or row.next_attempt_at is None:
        return False
    return ended is not None and row.next_attempt_at > ended
