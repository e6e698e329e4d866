"""The delivery ledger on SQLite and on the real PostgreSQL: at most one send per channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.delivery.ledger import (
    INTERRUPTED,
    DeliveryLedger,
    Finished,
    LedgerState,
    NewRow,
)
from services.shared.events import Channel
from tests.support.reminders import reminder

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


@pytest.fixture
def ledger(database_url: str) -> DeliveryLedger:
    return DeliveryLedger(database_url)


def test_first_claim_is_granted_and_a_second_is_not(ledger: DeliveryLedger) -> None:
    first = ledger.claim(reminder(), Channel.SMS, NOW)
    assert first.granted and first.delivery.state is LedgerState.SENDING
    assert first.delivery.attempts == 1
    ledger.finish(reminder().reminder_id, Channel.SMS, LedgerState.SENT, NOW, provider_id="SM1")
    again = ledger.claim(reminder(), Channel.SMS, NOW + timedelta(seconds=1))
    assert not again.granted
    assert again.delivery.state is LedgerState.SENT and again.delivery.provider_id == "SM1"


def test_channels_are_separate(ledger: DeliveryLedger) -> None:
    assert ledger.claim(reminder(), Channel.SMS, NOW).granted
    assert ledger.claim(reminder(), Channel.EMAIL, NOW).granted


def test_a_claim_left_sending_becomes_unknown_and_is_not_resent(ledger: DeliveryLedger) -> None:
    ledger.claim(reminder(), Channel.SMS, NOW)
    later = NOW + timedelta(minutes=5)
    after_crash = ledger.claim(reminder(), Channel.SMS, later)
    assert not after_crash.granted
    assert after_crash.delivery.state is LedgerState.UNKNOWN
    assert after_crash.delivery.reason == INTERRUPTED
    assert after_crash.delivery.updated_at == later


def test_a_pending_retry_may_be_claimed_again_counting_attempts(ledger: DeliveryLedger) -> None:
    ledger.claim(reminder(), Channel.SMS, NOW)
    ledger.finish(reminder().reminder_id, Channel.SMS, LedgerState.PENDING, NOW, "429")
    retry = ledger.claim(reminder(), Channel.SMS, NOW)
    assert retry.granted and retry.delivery.attempts == 2


def test_a_skip_is_recorded_once_and_never_overwrites_an_outcome(ledger: DeliveryLedger) -> None:
    skipped = ledger.record(reminder(), Channel.EMAIL, LedgerState.SKIPPED, "no consent", NOW)
    assert skipped.state is LedgerState.SKIPPED and skipped.reason == "no consent"
    assert not ledger.claim(reminder(), Channel.EMAIL, NOW).granted
    ledger.claim(reminder(), Channel.SMS, NOW)
    ledger.finish(reminder().reminder_id, Channel.SMS, LedgerState.SENT, NOW)
    kept = ledger.record(reminder(), Channel.SMS, LedgerState.SKIPPED, "late", NOW)
    assert kept.state is LedgerState.SENT


def test_rows_survive_a_new_ledger_on_the_same_store(database_url: str) -> None:
    DeliveryLedger(database_url).claim(reminder(), Channel.SMS, NOW)
    row = DeliveryLedger(database_url).get(reminder().reminder_id, Channel.SMS)
    assert row is not None and row.state is LedgerState.SENDING and row.updated_at == NOW


def test_a_retry_left_pending_takes_the_outcome_found_later(ledger: DeliveryLedger) -> None:
    ledger.claim(reminder(), Channel.SMS, NOW)
    ledger.finish(reminder().reminder_id, Channel.SMS, LedgerState.PENDING, NOW, "Twilio 500")
    later = NOW + timedelta(hours=8)
    stale = ledger.record(reminder(), Channel.SMS, LedgerState.SKIPPED, "stale", later)
    assert stale.state is LedgerState.SKIPPED and stale.reason == "stale"
    assert stale.updated_at == later and stale.attempts == 1


def test_a_bare_postgresql_url_is_taken_as_it_is_written(postgres_schema_url: str) -> None:
    bare = postgres_schema_url.replace("postgresql+psycopg://", "postgresql://")
    ledger = DeliveryLedger(bare)
    assert ledger.claim(reminder(), Channel.SMS, NOW).granted


def test_a_batch_opens_only_the_rows_not_yet_written_and_leaves_the_rest(
    ledger: DeliveryLedger,
) -> None:
    taken = reminder(reminder_id="r-taken")
    assert ledger.claim(taken, Channel.SMS, NOW).granted
    rows = [
        NewRow(reminder(reminder_id=f"r-{n}"), Channel.SMS, LedgerState.SENDING) for n in range(300)
    ]
    rows += [
        NewRow(taken, Channel.SMS, LedgerState.SKIPPED, "opted out"),  # written already
        NewRow(taken, Channel.EMAIL, LedgerState.SKIPPED, "no email address"),
        NewRow(reminder(reminder_id="r-bad"), Channel.EMAIL, LedgerState.FAILED, "template: x"),
    ]
    later = NOW + timedelta(minutes=1)
    written = ledger.open_many(rows, later)
    assert set(written) == {row.key for row in rows} - {(taken.reminder_id, Channel.SMS)}
    stored = ledger.get_many(row.key for row in rows)
    assert stored[(taken.reminder_id, Channel.SMS)].state is LedgerState.SENDING  # untouched
    assert stored[(taken.reminder_id, Channel.SMS)].updated_at == NOW
    skipped = stored[(taken.reminder_id, Channel.EMAIL)]
    assert (skipped.state, skipped.reason, skipped.attempts) == (
        LedgerState.SKIPPED,
        "no email address",
        0,
    )
    claim = stored[("r-7", Channel.SMS)]
    assert (claim.state, claim.attempts, claim.updated_at) == (LedgerState.SENDING, 1, later)
    assert stored[("r-bad", Channel.EMAIL)].reason == "template: x"
    assert ledger.open_many(rows[:5], later) == {}, "a second batch of the same rows opens none"


def test_a_batch_of_outcomes_moves_only_rows_still_sending(ledger: DeliveryLedger) -> None:
    rows = [
        NewRow(reminder(reminder_id=f"r-{n}"), Channel.SMS, LedgerState.SENDING) for n in range(200)
    ]
    claims = ledger.open_many(rows, NOW)
    # Another writer reached one of them first (an erasure, a callback): it stays as it is.
    ledger.finish("r-3", Channel.SMS, LedgerState.FAILED, NOW, reason="erased")
    later = NOW + timedelta(seconds=5)
    finished = [
        Finished(claims[row.key], LedgerState.SENT, None, f"SM{n}") for n, row in enumerate(rows)
    ]
    finished[9] = Finished(claims[rows[9].key], LedgerState.FAILED, "21211: invalid number")
    now_rows = ledger.finish_many(finished, later)
    stored = ledger.get_many(row.key for row in rows)
    assert now_rows == stored
    assert (stored[("r-0", Channel.SMS)].state, stored[("r-0", Channel.SMS)].provider_id) == (
        LedgerState.SENT,
        "SM0",
    )
    assert stored[("r-0", Channel.SMS)].updated_at == later
    failed = stored[("r-9", Channel.SMS)]
    assert (failed.state, failed.reason, failed.provider_id) == (
        LedgerState.FAILED,
        "21211: invalid number",
        None,
    )
    kept = stored[("r-3", Channel.SMS)]
    assert (kept.state, kept.reason, kept.updated_at) == (LedgerState.FAILED, "erased", NOW)
