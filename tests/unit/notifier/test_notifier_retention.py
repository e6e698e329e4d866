"""The notifier forgets settled deliveries, old replies and sink lines in time; never a STOP."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from services.notifier.bookings.seen import BookingsSeen
from services.notifier.delivery.ledger import DeliveryLedger, LedgerState, PlannedAttempt
from services.notifier.patients.inbound_log import InboundLog, received
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import InboxReply, RepliesInbox, ReplyKind, mark_handled
from services.notifier.privacy.retention import NotifierRetention
from services.shared.database import make_engine
from services.shared.erasure import erasure_keys
from services.shared.events import (
    BookingEvent,
    BookingEventType,
    BookingStatus,
    Channel,
    ConsentChanged,
)
from tests.support.reminders import reminder
from tests.unit.reminders.factories import booking, event

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def reply(sid: str, at: datetime) -> InboxReply:
    return InboxReply(
        sid, "dr-jenny", "+447700900123", ReplyKind.MESSAGE, None, "hi", None, None, at
    )


def test_a_sweep_forgets_what_is_past_its_time_and_keeps_what_is_in_use(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/notifier.db"
    ledger, inbox, log = DeliveryLedger(url), RepliesInbox(url), InboundLog(url)
    registry, seen = ConsentRegistry(url), BookingsSeen(url)
    old, recent, waiting = (reminder(reminder_id=f"r-{n}") for n in ("old", "recent", "waiting"))
    ledger.record(old, Channel.SMS, LedgerState.SKIPPED, "no SMS consent", NOW - 100 * DAY)
    ledger.record(recent, Channel.SMS, LedgerState.SKIPPED, "no SMS consent", NOW - 10 * DAY)
    ledger.claim(waiting, Channel.SMS, NOW - 100 * DAY)  # a retry still to be made
    ledger.defer(waiting, Channel.SMS, "503", NOW - 100 * DAY, PlannedAttempt(NOW, NOW + DAY))
    inbox.add(reply("SM-handled", NOW - 120 * DAY))
    inbox.add(reply("SM-unread", NOW - 120 * DAY))
    engine = make_engine(url)
    with engine.begin() as conn:
        mark_handled(conn, "SM-handled", NOW - 100 * DAY)
    log.receive("SM-old", NOW - 40 * DAY, sender="+447700900123")
    log.handled("SM-old", NOW - 40 * DAY, "Thank you")
    log.receive("SM-new", NOW - 1 * DAY, sender="+447700900123")
    registry.record(
        ConsentChanged(
            phone="+447700900123", channel=Channel.SMS, granted=False, occurred_at=NOW - 900 * DAY
        )
    )
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    lines = [{"to": "+447700900123", "sent_at": (NOW - d * DAY).isoformat()} for d in (100, 1)]
    (outbox / "sms.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))

    counts = NotifierRetention().sweep(engine, outbox, NOW)

    assert counts == {
        "deliveries": 1,
        "replies": 1,
        "inbound senders and answers": 1,
        "bookings seen": 0,
        "local sink lines": 1,
    }
    assert ledger.get("r-old", Channel.SMS) is None
    assert ledger.get("r-recent", Channel.SMS) is not None
    assert ledger.get("r-waiting", Channel.SMS) is not None, "pending: never swept"
    assert registry.opted_out("+447700900123", "dr-jenny", Channel.SMS) is not None
    [kept] = (outbox / "sms.jsonl").read_text().splitlines()
    assert json.loads(kept)["sent_at"] == (NOW - DAY).isoformat()
    for store in (ledger, inbox, log, registry, seen):
        store.close()
    engine.dispose()


def test_a_cancelled_booking_is_forgotten_as_the_booking_store_forgets_it(tmp_path: Path) -> None:
    """Not 400 days after its appointment: 30 days after its cancel
    (``CLINIC_RETENTION_CANCELLED_DAYS``, the same setting for both)."""
    url = f"sqlite:///{tmp_path}/notifier.db"
    stores = DeliveryLedger(url), RepliesInbox(url), InboundLog(url)
    seen = BookingsSeen(url)
    later = NOW + 100 * DAY

    def cancelled(booking_id: str, days_ago: int) -> BookingEvent:
        data = booking(booking_id, start=later, status=BookingStatus.CANCELLED)
        made = event(data, BookingEventType.CANCELLED)
        return made.model_copy(update={"occurred_at": NOW - days_ago * DAY})

    booked = event(booking("bk-booked", start=later)).model_copy(
        update={"occurred_at": NOW - 60 * DAY}
    )
    seen.record([cancelled("bk-old-cancel", 31), cancelled("bk-new-cancel", 29), booked], {})
    engine = make_engine(url)
    outbox = tmp_path / "outbox"
    outbox.mkdir()
    counts = NotifierRetention(cancelled_days=30).sweep(engine, outbox, NOW)
    assert counts["bookings seen"] == 1
    assert seen.latest("dr-jenny", "bk-old-cancel") is None
    assert seen.latest("dr-jenny", "bk-new-cancel") is not None
    assert seen.latest("dr-jenny", "bk-booked") is not None
    for store in (*stores, seen):
        store.close()
    engine.dispose()


def test_a_signed_text_replayed_after_the_sweep_is_still_known_and_not_acted_on(
    tmp_path: Path,
) -> None:
    """Twilio signs no date: the MessageSid outlives the sender's hash and the answer."""
    url = f"sqlite:///{tmp_path}/notifier.db"
    log = InboundLog(url, erasure_keys(SecretStr("an-erasure-secret-0123"), tmp_path))
    others = DeliveryLedger(url), RepliesInbox(url), BookingsSeen(url)
    first = NOW - 400 * DAY
    log.receive("SM-stop", first, sender="+447700900123")
    log.handled("SM-stop", first, "You will get no more texts")
    engine = make_engine(url)
    counts = NotifierRetention(inbound_days=30).sweep(engine, tmp_path, NOW)
    assert counts["inbound senders and answers"] == 1
    again = log.receive("SM-stop", NOW, sender="+447700900123")
    assert again.handled and again.received_at == first
    assert again.answer is None  # the answer went with the sender
    with engine.connect() as conn:
        [row] = conn.execute(select(received)).all()
    assert row.sender_hash is None
    swept_again = NotifierRetention(inbound_days=30).sweep(engine, tmp_path, NOW)
    assert swept_again["inbound senders and answers"] == 0
    for store in (log, *others):
        store.close()
    engine.dispose()
