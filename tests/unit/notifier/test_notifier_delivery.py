"""One reminder, one channel: consent, ledger, render, send, retry, record."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.notifier.bookings.currency import SeenBooking
from services.notifier.bookings.seen import BookingKey
from services.notifier.delivery.deliverer import Deliverer
from services.notifier.delivery.hand_over import Senders
from services.notifier.delivery.jobs import Source
from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.retry import Backoff, RetryPolicy
from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
)
from services.notifier.messages.rendering import TemplateRenderer
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.senders.base import SendResult
from services.notifier.senders.local import LocalEmailSender, LocalSmsSender
from services.shared.clinics import ClinicDirectory
from services.shared.clock import ManualClock
from services.shared.events import (
    BookingStatus,
    Channel,
    Consent,
    ConsentChanged,
    DeliveryState,
    ReminderDue,
)
from tests.support.reminders import patient, reminder

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class ScriptedSms:
    """An SMS provider that fails as told, then accepts; records each hand-off."""

    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.sent: list[str] = []

    def send(self, to: str, body: str, reminder: ReminderDue) -> SendResult:
        self.sent.append(body)
        if self.failures:
            raise self.failures.pop(0)
        return SendResult(provider_id=f"SM{len(self.sent)}")


class Harness:
    def __init__(
        self, tmp_path: Path, defaults: Path, sms: object | None = None, bookings: object = None
    ) -> None:
        self.clock = ManualClock(NOW)
        self.registry = ConsentRegistry(f"sqlite:///{tmp_path}/ledger.db")
        self.echo = io.StringIO()
        self.outbox = tmp_path / "outbox"
        self.ledger = DeliveryLedger(f"sqlite:///{tmp_path}/ledger.db")
        senders = Senders(
            sms=sms or LocalSmsSender(self.outbox, self.clock, self.echo),  # type: ignore[arg-type]
            email=LocalEmailSender(self.outbox, self.clock, self.echo),
        )
        self.deliverer = Deliverer(
            self.ledger,
            TemplateRenderer(None, ClinicDirectory(), defaults_dir=defaults),
            senders,
            self.clock,
            RetryPolicy(Backoff(0.5, 8.0, random.Random(7))),
            self.registry,
            bookings,  # type: ignore[arg-type]
        )

    def next_attempt(self, due: ReminderDue) -> datetime:
        row = self.ledger.get(due.reminder_id, Channel.SMS)
        assert row is not None and row.next_attempt_at is not None
        return row.next_attempt_at

    def retry_when_due(self, due: ReminderDue) -> DeliveryState:
        """Move the clock to the next attempt and deliver what the ledger hands back."""
        self.clock.set(self.next_attempt(due))
        [retry] = self.deliverer.retries.due()
        assert retry.channel is Channel.SMS
        return self.deliverer.deliver(
            ReminderDue.model_validate_json(retry.reminder_json), retry.channel
        ).status.state

    def lines(self, name: str) -> list[dict[str, object]]:
        path = self.outbox / name
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_sends_to_the_local_sink_and_records_it(tmp_path: Path, defaults_dir: Path) -> None:
    h = Harness(tmp_path, defaults_dir)
    outcome = h.deliverer.deliver(reminder(), Channel.SMS)
    assert outcome.status.state is DeliveryState.SENT and outcome.dead_letter is None
    assert outcome.status.occurred_at == NOW
    [line] = h.lines("sms.jsonl")
    assert line == {
        "reminder_id": "bk-1001:pre-treatment-24h:1",
        "clinic_id": "dr-jenny",
        "booking_id": "bk-1001",
        "milestone": "pre-treatment-24h",
        "channel": "sms",
        "to": "+447700900123",
        "body": "Hi Jane, see you Tue 1 Dec at 10:00. Dr Jenny",
        "sent_at": NOW.isoformat(),
    }
    # The console line keeps no name and no words of the message: logs outlive erasures.
    assert h.echo.getvalue() == "SMS   -> +4477...123  [pre-treatment-24h] booking bk-1001\n"


def test_email_line_carries_subject(tmp_path: Path, defaults_dir: Path) -> None:
    h = Harness(tmp_path, defaults_dir)
    h.deliverer.deliver(reminder(), Channel.EMAIL)
    [line] = h.lines("email.jsonl")
    assert line["subject"] == "Your treatment on Tuesday 1 December 2026"
    assert str(line["body"]).startswith("Dear Jane,")


def test_a_second_delivery_sends_nothing_and_reports_the_first(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir)
    first = h.deliverer.deliver(reminder(), Channel.SMS)
    h.clock.advance(timedelta(hours=1))
    again = h.deliverer.deliver(reminder(), Channel.SMS)
    assert len(h.lines("sms.jsonl")) == 1
    assert again.repeat and again.status == first.status


def test_without_consent_it_is_skipped_with_the_reason(tmp_path: Path, defaults_dir: Path) -> None:
    h = Harness(tmp_path, defaults_dir)
    no_sms = reminder(patient=patient(consent=Consent(sms=False, email=True)))
    outcome = h.deliverer.deliver(no_sms, Channel.SMS)
    assert outcome.status.state is DeliveryState.SKIPPED
    assert outcome.status.reason == "no SMS consent"
    assert h.lines("sms.jsonl") == []


def test_a_landline_gets_no_sms_with_the_reason_and_its_email_still_goes(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir)
    landline = reminder(patient=patient(phone="+442079460000"))
    sms = h.deliverer.deliver(landline, Channel.SMS)
    assert sms.status.state is DeliveryState.SKIPPED
    assert sms.status.reason == "the phone number is a landline: it cannot take texts"
    assert h.lines("sms.jsonl") == []
    assert h.deliverer.deliver(landline, Channel.EMAIL).status.state is DeliveryState.SENT


def stop_from(
    phone: str, clinic_id: str | None, at: datetime, granted: bool = False
) -> ConsentChanged:
    return ConsentChanged(
        clinic_id=clinic_id,
        phone=phone,
        channel=Channel.SMS,
        granted=granted,
        keyword="START" if granted else "STOP",
        occurred_at=at,
    )


def test_a_phone_that_texted_stop_gets_no_sms_whatever_the_booking_says(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir)
    h.registry.record(stop_from("+447700900123", "dr-jenny", NOW - timedelta(days=1)))
    sms = h.deliverer.deliver(reminder(), Channel.SMS)
    assert sms.status.state is DeliveryState.SKIPPED
    assert sms.status.reason == "opted out by SMS STOP at 2026-11-29T10:00:00+00:00"
    assert sms.dead_letter is None and h.lines("sms.jsonl") == []
    assert h.deliverer.deliver(reminder(), Channel.EMAIL).status.state is DeliveryState.SENT


def test_a_stop_to_another_clinic_does_not_count_and_start_lifts_it(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir)
    h.registry.record(stop_from("+447700900123", "other-clinic", NOW - timedelta(days=2)))
    h.registry.record(stop_from("+447700900123", None, NOW - timedelta(days=2)))
    h.registry.record(stop_from("+447700900123", "dr-jenny", NOW - timedelta(days=1), True))
    assert h.deliverer.deliver(reminder(), Channel.SMS).status.state is DeliveryState.SENT


def test_a_stale_reminder_is_skipped(tmp_path: Path, defaults_dir: Path) -> None:
    h = Harness(tmp_path, defaults_dir)
    outcome = h.deliverer.deliver(reminder(stale_at=NOW - timedelta(minutes=1)), Channel.SMS)
    assert outcome.status.state is DeliveryState.SKIPPED
    assert str(outcome.status.reason).startswith("stale: due ")


def test_a_catch_up_already_sent_is_only_reported_again(tmp_path: Path, defaults_dir: Path) -> None:
    h = Harness(tmp_path, defaults_dir)
    first = h.deliverer.deliver(reminder(stale_at=NOW + timedelta(hours=1)), Channel.SMS)
    h.clock.advance(timedelta(hours=2))  # stale now, and re-emitted after a rebuilt plan
    again = h.deliverer.deliver(
        reminder(stale_at=NOW + timedelta(hours=1), catch_up=True), Channel.SMS
    )
    assert again.repeat and again.status == first.status
    assert len(h.lines("sms.jsonl")) == 1


def test_a_catch_up_never_sent_and_no_longer_useful_is_missed(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir)
    late = reminder(stale_at=NOW - timedelta(minutes=1), catch_up=True)
    outcome = h.deliverer.deliver(late, Channel.SMS)
    assert outcome.status.state is DeliveryState.SKIPPED
    assert str(outcome.status.reason).startswith("missed while the platform was down: due ")
    assert h.lines("sms.jsonl") == []


def test_a_broken_template_fails_for_good_and_names_the_template(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir)
    outcome = h.deliverer.deliver(reminder(template="missing"), Channel.SMS)
    assert outcome.status.state is DeliveryState.FAILED
    assert outcome.dead_letter == (
        "sms: template missing.sms.j2 not found for clinic 'dr-jenny', locale 'en-GB'"
    )


def test_transient_failures_are_retried_with_backoff(tmp_path: Path, defaults_dir: Path) -> None:
    sms = ScriptedSms(RetryableSendError("HTTP 500"), RetryableSendError("429", retry_after=2))
    h = Harness(tmp_path, defaults_dir, sms)
    first = h.deliverer.deliver(reminder(), Channel.SMS)
    assert first.status.state is DeliveryState.RETRYING and first.dead_letter is None
    assert str(first.status.reason).startswith("attempt 1 failed: HTTP 500; next attempt at ")
    assert NOW <= h.next_attempt(reminder()) <= NOW + timedelta(seconds=0.5)
    assert h.retry_when_due(reminder()) is DeliveryState.RETRYING
    assert h.next_attempt(reminder()) == h.clock.now() + timedelta(seconds=2), "Retry-After wins"
    assert h.retry_when_due(reminder()) is DeliveryState.SENT
    assert len(sms.sent) == 3
    assert h.deliverer.retries.due() == []


def test_a_retry_is_not_tried_before_it_is_due(tmp_path: Path, defaults_dir: Path) -> None:
    sms = ScriptedSms(RetryableSendError("429", retry_after=30))
    h = Harness(tmp_path, defaults_dir, sms)
    h.deliverer.deliver(reminder(), Channel.SMS)
    h.clock.advance(timedelta(seconds=29))
    again = h.deliverer.deliver(reminder(), Channel.SMS)  # the record read a second time
    assert again.repeat and again.status.state is DeliveryState.RETRYING
    assert h.deliverer.retries.due() == [] and len(sms.sent) == 1


def test_retries_give_up_once_the_message_is_no_longer_useful(
    tmp_path: Path, defaults_dir: Path
) -> None:
    sms = ScriptedSms(*[RetryableSendError("HTTP 503")] * 50)
    h = Harness(tmp_path, defaults_dir, sms)
    due = reminder(stale_at=NOW + timedelta(seconds=20))
    state = h.deliverer.deliver(due, Channel.SMS).status.state
    while state is DeliveryState.RETRYING:
        state = h.retry_when_due(due)
    row = h.ledger.get(due.reminder_id, Channel.SMS)
    assert row is not None and row.state.value == "failed"
    assert row.reason == (
        f"gave up after {len(sms.sent)} attempts, of no use after "
        f"2026-11-30T10:00:20+00:00: HTTP 503"
    )
    assert 4 <= len(sms.sent) < 50 and h.clock.now() < due.stale_at  # type: ignore[operator]


def test_a_deferred_delivery_is_kept_across_a_restart(tmp_path: Path, defaults_dir: Path) -> None:
    sms = ScriptedSms(RetryableSendError("HTTP 503"))
    Harness(tmp_path, defaults_dir, sms).deliverer.deliver(reminder(), Channel.SMS)
    restarted = Harness(tmp_path, defaults_dir, sms)  # a new process on the same ledger
    assert restarted.retry_when_due(reminder()) is DeliveryState.SENT
    assert len(sms.sent) == 2


def test_a_permanent_failure_is_not_retried(tmp_path: Path, defaults_dir: Path) -> None:
    sms = ScriptedSms(PermanentSendError("21610: unsubscribed"))
    h = Harness(tmp_path, defaults_dir, sms)
    outcome = h.deliverer.deliver(reminder(), Channel.SMS)
    assert outcome.status.state is DeliveryState.FAILED
    assert outcome.dead_letter == "sms: 21610: unsubscribed" and len(sms.sent) == 1


def test_an_ambiguous_failure_is_unknown_and_never_resent(
    tmp_path: Path, defaults_dir: Path
) -> None:
    sms = ScriptedSms(AmbiguousSendError("read timeout after hand-off"))
    h = Harness(tmp_path, defaults_dir, sms)
    assert h.deliverer.deliver(reminder(), Channel.SMS).status.state is DeliveryState.UNKNOWN
    assert h.deliverer.deliver(reminder(), Channel.SMS).status.state is DeliveryState.UNKNOWN
    assert len(sms.sent) == 1


def test_a_retry_left_mid_send_by_a_stopped_notifier_is_unknown_and_never_resent(
    tmp_path: Path, defaults_dir: Path
) -> None:
    sms = ScriptedSms(RetryableSendError("HTTP 503"))
    h = Harness(tmp_path, defaults_dir, sms)
    h.deliverer.deliver(reminder(), Channel.SMS)
    h.clock.set(h.next_attempt(reminder()))
    h.ledger.claim(reminder(), Channel.SMS, h.clock.now())  # killed right after the claim
    h.clock.advance(timedelta(minutes=1))
    restarted = Harness(tmp_path, defaults_dir, sms)
    restarted.clock.set(h.clock.now())
    [(due, outcome)] = restarted.deliverer.retries.close_interrupted(restarted.clock.now())
    assert due.reminder_id == reminder().reminder_id
    assert outcome.status.state is DeliveryState.UNKNOWN
    assert restarted.deliverer.retries.due() == [] and len(sms.sent) == 1


def test_a_kept_retry_that_no_longer_reads_is_failed_with_the_reason(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir, ScriptedSms(RetryableSendError("HTTP 503")))
    h.deliverer.deliver(reminder(), Channel.SMS)
    h.clock.set(h.next_attempt(reminder()))
    [retry] = h.deliverer.retries.due()
    h.deliverer.retries.fail_unreadable(retry, "emitted_at: Field required")
    row = h.ledger.get(reminder().reminder_id, Channel.SMS)
    assert row is not None and row.state.value == "failed"
    assert row.reason == "kept reminder unreadable: emitted_at: Field required"
    assert h.deliverer.retries.due() == []


def test_a_replayed_dead_letter_is_sent_again_once(tmp_path: Path, defaults_dir: Path) -> None:
    sms = ScriptedSms(PermanentSendError("21610: unsubscribed"))
    h = Harness(tmp_path, defaults_dir, sms)
    assert h.deliverer.deliver(reminder(), Channel.SMS).status.state is DeliveryState.FAILED
    replay = Source(0, 7, replay_of="notifications:0:3")
    assert h.deliverer.deliver(reminder(), Channel.SMS, replay).status.state is DeliveryState.SENT
    again = h.deliverer.deliver(reminder(), Channel.SMS, replay)
    assert again.repeat and again.status.state is DeliveryState.SENT
    assert len(sms.sent) == 2


def test_a_replay_of_what_was_sent_sends_nothing(tmp_path: Path, defaults_dir: Path) -> None:
    h = Harness(tmp_path, defaults_dir)
    h.deliverer.deliver(reminder(), Channel.SMS)
    replayed = h.deliverer.deliver(reminder(), Channel.SMS, Source(replay_of="notifications:0:9"))
    assert replayed.repeat and len(h.lines("sms.jsonl")) == 1


class ChangingBookings:
    """The notifier's view of bookings, which learns of a cancel while a retry waits."""

    def __init__(self) -> None:
        self.now: SeenBooking | None = None

    def latest_many(self, keys: Iterable[BookingKey]) -> dict[BookingKey, SeenBooking]:
        return {key: self.now for key in keys if self.now is not None}


def test_a_booking_cancelled_while_a_retry_waits_is_not_sent(
    tmp_path: Path, defaults_dir: Path
) -> None:
    bookings = ChangingBookings()
    sms = ScriptedSms(RetryableSendError("429", retry_after=30))
    h = Harness(tmp_path, defaults_dir, sms, bookings)
    cancelled = SeenBooking(1, BookingStatus.CANCELLED, NOW, NOW + timedelta(seconds=10))

    assert h.deliverer.deliver(reminder(), Channel.SMS).status.state is DeliveryState.RETRYING
    bookings.now = cancelled  # the cancel arrives while the provider asks for patience
    assert h.retry_when_due(reminder()) is DeliveryState.SKIPPED

    assert len(sms.sent) == 1, "tried once, refused with 429, never tried again"
    row = h.ledger.get(reminder().reminder_id, Channel.SMS)
    assert row is not None and row.state.value == "skipped"
    assert row.reason == "booking cancelled at 2026-11-30T10:00:10+00:00"


def test_due_retries_come_those_of_use_for_the_least_time_first(
    tmp_path: Path, defaults_dir: Path
) -> None:
    h = Harness(tmp_path, defaults_dir, ScriptedSms(*[RetryableSendError("HTTP 503")] * 3))
    lasting = [
        reminder(reminder_id=f"bk-1001:r{i}:1", stale_at=NOW + timedelta(hours=hours))
        for i, hours in enumerate((9, 2, 5))
    ]
    for due in lasting:
        h.deliverer.deliver(due, Channel.SMS)
    h.clock.advance(timedelta(minutes=10))  # every retry due at once, as after an outage
    order = [retry.reminder_id for retry in h.deliverer.retries.due()]
    assert order == ["bk-1001:r1:1", "bk-1001:r2:1", "bk-1001:r0:1"]


def test_a_retry_taken_up_after_its_last_useful_moment_says_when_it_was_due(
    tmp_path: Path, defaults_dir: Path
) -> None:
    sms = ScriptedSms(RetryableSendError("HTTP 503"))
    h = Harness(tmp_path, defaults_dir, sms)
    due = reminder(stale_at=NOW + timedelta(minutes=30))
    h.deliverer.deliver(due, Channel.SMS)
    next_try = h.next_attempt(due)
    h.clock.set(NOW + timedelta(hours=2))  # the notifier was stopped meanwhile
    [retry] = h.deliverer.retries.due()
    state = h.deliverer.deliver(ReminderDue.model_validate_json(retry.reminder_json), Channel.SMS)
    row = h.ledger.get(due.reminder_id, Channel.SMS)
    assert state.status.state is DeliveryState.FAILED and len(sms.sent) == 1
    assert row is not None and row.reason == (
        "gave up after 1 attempts, of no use after 2026-11-30T10:30:00+00:00: HTTP 503;"
        f" its next try, due {next_try.isoformat()}, was taken up only at"
        " 2026-11-30T12:00:00+00:00"
    )
