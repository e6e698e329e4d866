"""The consent registry on SQLite and on the real PostgreSQL: the latest word wins."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from services.notifier.delivery.ledger import DeliveryLedger, LedgerState
from services.notifier.delivery.ledger_reads import LedgerReads
from services.notifier.patients.registry import ConsentRegistry
from services.shared.events import Channel, ConsentChanged
from tests.support.reminders import reminder

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
JANE = "+447700900123"


@pytest.fixture
def registry(database_url: str) -> Iterator[ConsentRegistry]:
    opened = ConsentRegistry(database_url)
    yield opened
    opened.close()


def change(granted: bool, at: datetime, clinic_id: str | None = "dr-jenny") -> ConsentChanged:
    return ConsentChanged(
        clinic_id=clinic_id,
        phone=JANE,
        channel=Channel.SMS,
        granted=granted,
        keyword="START" if granted else "STOP",
        occurred_at=at,
    )


def test_stop_then_start_leaves_consent_given(registry: ConsentRegistry) -> None:
    registry.record(change(False, NOW))
    withdrawn = registry.opted_out(JANE, "dr-jenny", Channel.SMS)
    assert withdrawn is not None and withdrawn.changed_at == NOW and withdrawn.keyword == "STOP"
    registry.record(change(True, NOW + timedelta(hours=1)))
    assert registry.opted_out(JANE, "dr-jenny", Channel.SMS) is None


def test_a_change_older_than_the_stored_one_changes_nothing(registry: ConsentRegistry) -> None:
    registry.record(change(False, NOW))
    registry.record(change(True, NOW - timedelta(hours=1)))
    assert registry.opted_out(JANE, "dr-jenny", Channel.SMS) is not None


def test_a_stop_to_every_clinic_counts_until_a_later_start_to_one(
    registry: ConsentRegistry,
) -> None:
    registry.record(change(False, NOW, clinic_id=None))
    assert registry.opted_out(JANE, "dr-jenny", Channel.SMS) is not None
    assert registry.opted_out(JANE, "elsewhere", Channel.SMS) is not None
    assert registry.opted_out(JANE, "dr-jenny", Channel.EMAIL) is None
    registry.record(change(True, NOW + timedelta(minutes=1)))
    assert registry.opted_out(JANE, "dr-jenny", Channel.SMS) is None
    assert registry.opted_out(JANE, "elsewhere", Channel.SMS) is not None


def test_the_ledger_settles_a_sent_text_by_its_provider_id(database_url: str) -> None:
    ledger = DeliveryLedger(database_url)
    ledger.claim(reminder(), Channel.SMS, NOW)
    ledger.finish(reminder().reminder_id, Channel.SMS, LedgerState.SENT, NOW, provider_id="SM9")
    assert ledger.settle("SM9", LedgerState.DELIVERED, NOW + timedelta(seconds=3))
    assert not ledger.settle("SM9", LedgerState.FAILED, NOW + timedelta(seconds=4), "30008")
    tracked = LedgerReads(ledger.engine).by_provider_id("SM9")
    assert tracked is not None and tracked.delivery.state is LedgerState.DELIVERED
    assert tracked.delivery.updated_at == NOW + timedelta(seconds=3)
    assert (tracked.clinic_id, tracked.booking_id, tracked.patient_id) == (
        "dr-jenny",
        "bk-1001",
        "p-42",
    )
    assert LedgerReads(ledger.engine).by_provider_id("SM0") is None
    ledger.close()


def test_a_ledger_made_before_status_callbacks_gains_the_patient_column(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE notifier_deliveries (reminder_id VARCHAR(200) NOT NULL, "
                "channel VARCHAR(16) NOT NULL, clinic_id VARCHAR(128) NOT NULL, "
                "booking_id VARCHAR(128) NOT NULL, milestone VARCHAR(128) NOT NULL, "
                "state VARCHAR(16) NOT NULL, attempts INTEGER NOT NULL, reason TEXT, "
                "provider_id VARCHAR(128), created_at TIMESTAMP WITH TIME ZONE NOT NULL, "
                "updated_at TIMESTAMP WITH TIME ZONE NOT NULL, PRIMARY KEY (reminder_id, channel))"
            )
        )
    engine.dispose()
    ledger = DeliveryLedger(database_url)
    assert ledger.claim(reminder(), Channel.SMS, NOW).granted
    ledger.finish(reminder().reminder_id, Channel.SMS, LedgerState.SENT, NOW, provider_id="SM1")
    tracked = LedgerReads(ledger.engine).by_provider_id("SM1")
    assert tracked is not None and tracked.patient_id == "p-42"
    ledger.close()
