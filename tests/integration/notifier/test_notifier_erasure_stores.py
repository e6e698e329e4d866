"""A patient erased from every store of the notifier, on SQLite and the real PostgreSQL:
nothing that names them is left, nobody else's rows change, a STOP still holds."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, create_engine, select

from services.notifier.bookings.seen import BookingsSeen
from services.notifier.delivery.ledger import DeliveryLedger, LedgerState, PlannedAttempt
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.delivery.retry_queue import RetryQueue
from services.notifier.patients.inbound_log import InboundLog
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import UNMAPPED, InboxReply, RepliesInbox, ReplyKind
from services.notifier.privacy.erased import ErasureRegister
from services.notifier.privacy.erasure import ErasureStores, NotifierErasure
from services.shared.clock import ManualClock
from services.shared.database import normalise_url
from services.shared.erasure import ERASED, ErasureKeys, ErasureRecord, PatientErased
from services.shared.events import (
    BookingEvent,
    BookingEventType,
    Channel,
    ConsentChanged,
    decode,
)
from tests.support.notifier_loop import NOW
from tests.support.reminders import patient, reminder
from tests.unit.reminders.factories import booking

pytestmark = pytest.mark.integration

KEYS = ErasureKeys(b"k" * 32)
PHONE, EMAIL, NAME = "+447700900987", "Wilhelmina@Example.com", "Wilhelmina"
GONE = patient(id="p-w", first_name=NAME, phone=PHONE, email=EMAIL)
KEPT = patient()  # Jane, p-42, +447700900123
TRACES = (PHONE, EMAIL.lower(), NAME, "p-w", "bk-w1", "bk-w2", "SMw1", "SMw2", "SMw3")


class Built:
    def __init__(self, url: str, var: Path) -> None:
        self.url = url
        self.published: list[tuple[str, str | None, bytes]] = []
        self.stores = ErasureStores(
            ErasureRegister(url, KEYS),
            BookingsSeen(url),
            DeliveryLedger(url),
            ConsentRegistry(url, KEYS),
            RepliesInbox(url),
            InboundLog(url, KEYS),
            var / "outbox",
        )
        self.erasure = NotifierErasure(
            self.stores,
            KEYS,
            ManualClock(NOW),
            lambda *record: self.published.append(record),
            "erasures",
        )

    def dump(self) -> str:
        """Every row of every table of the notifier's database, as text."""
        engine = create_engine(normalise_url(self.url))
        tables = MetaData()
        tables.reflect(engine)
        with engine.connect() as conn:
            text = "\n".join(
                f"{t.name}: {row}" for t in tables.sorted_tables for row in conn.execute(select(t))
            )
        engine.dispose()
        return text

    def sinks(self) -> str:
        folder = self.stores.outbox_dir
        return "".join(p.read_text() for p in sorted(folder.glob("*.jsonl")))


@pytest.fixture
def built(database_url: str, tmp_path: Path) -> Built:
    made = Built(database_url, tmp_path)
    s = made.stores
    events = [
        BookingEvent(type=BookingEventType.CREATED, occurred_at=NOW, clinic_id="dr-jenny", data=b)
        for b in (
            booking("bk-w1", "p-w", patient=GONE),
            booking("bk-w2", "p-w", patient=GONE),
            booking("bk-1001", "p-42", patient=KEPT),
        )
    ]
    s.seen.record(events, {("bookings", 0): 3})
    for who, bk in ((GONE, "bk-w1"), (GONE, "bk-w2"), (KEPT, "bk-1001")):
        due = reminder(reminder_id=f"digest-of-{bk[::-1]}", booking_id=bk, patient=who)
        s.ledger.claim(due, Channel.SMS, NOW)
        s.ledger.finish(due.reminder_id, Channel.SMS, LedgerState.SENT, NOW, None, f"SM-{bk}")
    waiting = reminder(reminder_id="digest-email", booking_id="bk-w2", patient=GONE)
    s.ledger.claim(waiting, Channel.EMAIL, NOW)
    later = PlannedAttempt(NOW + timedelta(minutes=5), NOW + timedelta(hours=5))
    s.ledger.defer(waiting, Channel.EMAIL, f"421 try later for {EMAIL}", NOW, later)
    for change in (
        ConsentChanged(
            clinic_id="dr-jenny",
            phone=PHONE,
            channel=Channel.SMS,
            granted=False,
            keyword="STOP",
            occurred_at=NOW,
        ),
        ConsentChanged(
            phone=PHONE, channel=Channel.SMS, granted=False, keyword="STOP", occurred_at=NOW
        ),
        ConsentChanged(
            clinic_id="dr-jenny",
            email=EMAIL,
            channel=Channel.EMAIL,
            granted=False,
            source="email-unsubscribe",
            occurred_at=NOW,
        ),
        ConsentChanged(
            clinic_id="dr-jenny",
            phone=KEPT.phone,
            channel=Channel.SMS,
            granted=False,
            keyword="STOP",
            occurred_at=NOW,
        ),
    ):
        s.registry.record(change)
    for sid, clinic, phone, patient_id, body in (
        ("SMw1", "dr-jenny", PHONE, "p-w", f"Can we move it? {NAME}"),
        ("SMw2", UNMAPPED, PHONE, None, "hello?"),
        ("SMj1", "dr-jenny", KEPT.phone, "p-42", "Jane here"),
    ):
        s.inbox.add(
            InboxReply(
                sid, clinic, phone or "", ReplyKind.MESSAGE, None, body, None, patient_id, NOW
            )
        )
    for sid, sender in (("SMw1", PHONE), ("SMw2", PHONE), ("SMw3", PHONE), ("SMj1", KEPT.phone)):
        s.inbound.receive(sid, NOW, sender)
    s.outbox_dir.mkdir(parents=True)
    (s.outbox_dir / "sms.jsonl").write_text(
        "".join(
            json.dumps({"clinic_id": "dr-jenny", "booking_id": bk, "to": to, "body": f"Hi {n}"})
            + "\n"
            for bk, to, n in (("bk-w1", PHONE, NAME), ("bk-1001", KEPT.phone, "Jane"))
        )
        + "not json\n"
    )
    (s.outbox_dir / "email.jsonl").write_text(
        json.dumps({"booking_id": "bk-w2", "to": EMAIL, "body": f"Dear {NAME}"}) + "\n"
    )
    return made


def erasure() -> PatientErased:
    return PatientErased(clinic_id="dr-jenny", patient_id="p-w", erased_at=NOW)


def test_nothing_that_names_the_patient_is_left_and_jane_is_untouched(built: Built) -> None:
    counts = built.erasure.erase(erasure())

    assert counts == {
        "replies": 2,
        "deliveries": 3,
        "consent": 3,
        "inbound": 3,
        "sms_lines": 1,
        "email_lines": 1,
        "bookings_seen": 2,
    }
    left = built.dump() + built.sinks()
    for trace in TRACES:
        assert trace not in left and trace.lower() not in left.lower(), trace
    for jane in ("p-42", "bk-1001", "SMj1", str(KEPT.phone), "Jane here"):
        assert jane in left, jane
    assert "not json" in left


def test_the_ledger_keeps_the_counts_and_a_waiting_row_is_skipped(built: Built) -> None:
    built.erasure.erase(erasure())
    ledger = built.stores.ledger

    assert LedgerReads(ledger.engine).count_by_state() == {"sent": 3, "skipped": 1}
    kept = ledger.get("digest-email", Channel.EMAIL)
    assert kept is not None and kept.state is LedgerState.SKIPPED and kept.reason == ERASED
    assert RetryQueue(ledger.engine).due_retries(NOW + timedelta(hours=1)) == []
    assert LedgerReads(ledger.engine).by_provider_id("SM-bk-w1") is None


def test_the_patients_stop_still_holds_when_the_number_is_booked_again(built: Built) -> None:
    built.erasure.erase(erasure())
    registry = built.stores.registry

    stop = registry.opted_out(PHONE, "dr-jenny", Channel.SMS)
    assert stop is not None and stop.keyword == "STOP" and PHONE not in stop.address
    assert registry.opted_out(PHONE, "other-clinic", Channel.SMS) is not None  # the "*" STOP
    assert registry.opted_out(EMAIL, "dr-jenny", Channel.EMAIL) is not None
    registry.record(
        ConsentChanged(
            clinic_id="dr-jenny",
            phone=PHONE,
            channel=Channel.SMS,
            granted=True,
            keyword="START",
            occurred_at=NOW + timedelta(days=1),
        )
    )
    assert registry.opted_out(PHONE, "dr-jenny", Channel.SMS) is None


def test_an_erasure_read_again_changes_nothing_more_and_is_recorded_once(built: Built) -> None:
    once = erasure()
    built.erasure.erase(once)
    again = built.erasure.erase(once)

    assert set(again.values()) == {0}
    [(topic, key, value)] = built.published
    record = decode(ErasureRecord, value)
    assert (topic, key, record.service) == ("erasures", record.erasure_id, "notifier")
    assert record.patient_hash == KEYS.patient("dr-jenny", "p-w")
    assert record.counts["deliveries"] == 3
    register = built.stores.register
    assert register.patients.covers("dr-jenny", "p-w", NOW)
    assert not register.patients.covers("dr-jenny", "p-w", NOW + timedelta(seconds=1))
    assert ErasureRegister(built.url, KEYS).patients.covers("dr-jenny", "p-w", NOW)


def test_on_sqlite_the_files_keep_none_of_the_patients_bytes(built: Built) -> None:
    if not built.url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps dead rows until VACUUM (docs/privacy.md)")
    path = Path(built.url.removeprefix("sqlite:///"))
    before = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert PHONE.encode() in before

    built.erasure.erase(erasure())

    after = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    assert [t for t in TRACES if t.encode() in after] == []
