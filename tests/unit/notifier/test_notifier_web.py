"""The HTTP side in-process: Twilio's signed webhooks, health and metrics, on SQLite."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from twilio.request_validator import RequestValidator

from services.notifier.delivery.ledger import LedgerState
from services.notifier.patients.replies import UNMAPPED, ReplyKind
from services.shared.events import (
    BookingStatus,
    Channel,
    ConsentChanged,
    DeliveryState,
    NotificationStatus,
    PatientReplied,
    ReplyIntent,
    decode,
)
from tests.support.notifier_web import CLINIC_NUMBER, JANE, NOW, TOKEN, TOPICS, Web
from tests.support.reminders import reminder
from tests.unit.reminders.factories import booking


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    made = Web(tmp_path)
    with made.client:
        yield made
    made.close()


SIDS = (f"SM{n:032x}" for n in itertools.count(1))


def text(
    body: str, sender: str = JANE, to: str = CLINIC_NUMBER, sid: str | None = None
) -> dict[str, str]:
    """A text as Twilio posts it; each a text of its own (a new MessageSid) unless ``sid``."""
    return {
        "From": sender,
        "To": to,
        "Body": body,
        "MessageSid": sid or next(SIDS),
        "AccountSid": "AC" + "1" * 32,
        "NumMedia": "0",
    }


def test_stop_withdraws_sms_consent_records_it_and_publishes_it(web: Web) -> None:
    answer = web.post("/v1/twilio/inbound", text("Stop"))
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/xml"
    assert "<Message>" not in answer.text
    withdrawn = web.registry.opted_out(JANE, "dr-jenny", Channel.SMS)
    assert withdrawn is not None and withdrawn.keyword == "STOP" and withdrawn.changed_at == NOW
    [raw] = web.on(TOPICS.consent)
    change = decode(ConsentChanged, raw)
    assert (change.clinic_id, change.phone, change.channel, change.granted) == (
        "dr-jenny",
        JANE,
        Channel.SMS,
        False,
    )
    assert (change.source, change.keyword, change.occurred_at) == ("sms-keyword", "STOP", NOW)
    assert web.published[0][1] == f"dr-jenny:{JANE}"


def test_start_after_stop_opts_back_in(web: Web) -> None:
    web.post("/v1/twilio/inbound", text("STOP"))
    web.clock.advance(timedelta(minutes=5))
    web.post("/v1/twilio/inbound", text("start"))
    assert web.registry.opted_out(JANE, "dr-jenny", Channel.SMS) is None
    assert [decode(ConsentChanged, raw).granted for raw in web.on(TOPICS.consent)] == [False, True]


def test_a_number_no_clinic_is_mapped_to_opts_out_of_every_clinic(web: Web) -> None:
    web.post("/v1/twilio/inbound", text("QUIT", to="+447700900555"))
    assert web.registry.opted_out(JANE, "any-clinic", Channel.SMS) is not None
    assert decode(ConsentChanged, web.on(TOPICS.consent)[0]).clinic_id is None


def test_help_is_answered_with_the_clinics_details(web: Web) -> None:
    answer = web.post("/v1/twilio/inbound", text("help"))
    assert answer.text == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>Dr Jenny: appointment '
        "reminders. Reply STOP to opt out, START to opt in. Questions: call +442079460000."
        "</Message></Response>"
    )
    assert web.published == []


def test_any_other_reply_goes_to_the_inbox_and_its_number_is_masked_in_logs(
    web: Web, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    web.booked()
    answer = web.post("/v1/twilio/inbound", text("Can I come at 11 instead?"))
    assert "<Message>" not in answer.text
    [reply] = web.replies()
    assert (reply.kind, reply.body, reply.clinic_id) == (
        ReplyKind.MESSAGE,
        "Can I come at 11 instead?",
        "dr-jenny",
    )
    assert (reply.booking_id, reply.patient_id, reply.handled_at) == ("bk-1001", "p-42", None)
    assert web.published == []
    assert "+4477...123" in caplog.text and JANE not in caplog.text
    assert web.registry.latest(JANE, "dr-jenny", Channel.SMS) is None


def test_c_confirms_the_patients_next_booking_through_the_replies_topic(web: Web) -> None:
    web.booked()
    answer = web.post("/v1/twilio/inbound", text("c", sid="SM" + "c" * 32))
    assert "<Message>Thank you, your appointment is confirmed. Dr Jenny</Message>" in answer.text
    [(topic, key, raw)] = web.published
    reply = decode(PatientReplied, raw)
    assert (topic, key) == (TOPICS.replies, "dr-jenny:p-42")
    assert (reply.intent, reply.word, reply.booking_id, reply.message_sid) == (
        ReplyIntent.CONFIRM,
        "C",
        "bk-1001",
        "SM" + "c" * 32,
    )
    assert reply.received_at == NOW and web.replies() == []


def test_r_asks_to_rearrange_in_the_inbox_and_tells_the_booking_service(web: Web) -> None:
    web.booked()
    answer = web.post("/v1/twilio/inbound", text("R"))
    assert "Dr Jenny will be in touch to find a new time, or call +442079460000." in answer.text
    [reply] = web.replies()
    assert (reply.kind, reply.word, reply.booking_id) == (ReplyKind.REARRANGE, "R", "bk-1001")
    assert decode(PatientReplied, web.on(TOPICS.replies)[0]).intent is ReplyIntent.REARRANGE


def test_a_french_patient_is_answered_in_french(web: Web) -> None:
    jane = booking().patient.model_copy(update={"locale": "fr-FR"})
    web.booked(patient=jane)
    answer = web.post("/v1/twilio/inbound", text("1"))
    assert "Merci, votre rendez-vous est confirmé. Dr Jenny" in answer.text


def test_cancel_opts_out_and_the_inbox_says_so(web: Web) -> None:
    web.booked()
    web.post("/v1/twilio/inbound", text("CANCEL"))
    withdrawn = web.registry.opted_out(JANE, "dr-jenny", Channel.SMS)
    assert withdrawn is not None and withdrawn.keyword == "CANCEL"
    [reply] = web.replies()
    assert (reply.kind, reply.booking_id) == (ReplyKind.OPTED_OUT, "bk-1001")
    assert reply.summary.startswith("opted out of texts (replied CANCEL)")
    assert "may have meant to cancel the appointment" in reply.summary
    assert web.on(TOPICS.replies) == []


def test_a_confirmation_without_an_appointment_to_come_goes_to_the_inbox(web: Web) -> None:
    web.post("/v1/twilio/inbound", text("C"))
    web.booked(status=BookingStatus.CANCELLED)
    web.clock.advance(timedelta(minutes=1))
    web.post("/v1/twilio/inbound", text("C"))
    kinds = [(r.kind, r.booking_id) for r in web.replies()]
    assert kinds == [(ReplyKind.UNMATCHED_CONFIRM, None), (ReplyKind.UNMATCHED_CONFIRM, "bk-1001")]
    assert web.published == []


def test_a_replayed_text_changes_nothing_and_is_answered_the_same(web: Web) -> None:
    stop = text("STOP")
    web.post("/v1/twilio/inbound", stop)
    web.clock.advance(timedelta(minutes=5))
    web.post("/v1/twilio/inbound", text("START"))
    web.clock.advance(timedelta(minutes=5))
    again = web.post("/v1/twilio/inbound", stop)  # the same signed request, replayed
    assert again.status_code == 200
    assert web.registry.opted_out(JANE, "dr-jenny", Channel.SMS) is None
    assert [decode(ConsentChanged, raw).granted for raw in web.on(TOPICS.consent)] == [False, True]
    assert [r.kind for r in web.replies()] == [ReplyKind.OPTED_OUT]
    helped = text("HELP")
    first, repeat = web.post("/v1/twilio/inbound", helped), web.post("/v1/twilio/inbound", helped)
    assert first.text == repeat.text and "<Message>" in repeat.text


def test_a_text_handled_again_after_a_failure_is_dated_by_its_first_receipt(web: Web) -> None:
    stop = text("STOP")

    def down(topic: str, key: str | None, value: bytes) -> None:
        raise ConnectionError("broker down")

    web.publish_to = down
    with pytest.raises(ConnectionError):
        web.post("/v1/twilio/inbound", stop)
    web.publish_to = None
    web.clock.advance(timedelta(minutes=5))
    web.post("/v1/twilio/inbound", text("START"))
    web.clock.advance(timedelta(minutes=5))
    web.post("/v1/twilio/inbound", stop)  # Twilio sends the STOP again
    assert web.registry.opted_out(JANE, "dr-jenny", Channel.SMS) is None
    changes = [decode(ConsentChanged, raw) for raw in web.on(TOPICS.consent)]
    assert [(c.granted, c.occurred_at) for c in changes] == [
        (True, NOW + timedelta(minutes=5)),
        (False, NOW),
    ]


def test_a_text_without_a_message_sid_is_a_400(web: Web) -> None:
    answer = web.post("/v1/twilio/inbound", {**text("STOP"), "MessageSid": ""})
    assert answer.status_code == 400 and answer.json()["detail"].startswith("MessageSid:")


def test_a_wrong_signature_is_refused_and_changes_nothing(web: Web) -> None:
    answer = web.post("/v1/twilio/inbound", text("STOP"), token="someone-elses-token")
    assert answer.status_code == 403
    assert web.registry.latest(JANE, "dr-jenny", Channel.SMS) is None and web.published == []


def test_a_signature_over_other_fields_is_refused(web: Web) -> None:
    form = text("START")
    signature = RequestValidator(TOKEN).compute_signature(
        "http://testserver/v1/twilio/inbound", form
    )
    answer = web.client.post(
        "/v1/twilio/inbound",
        content=urlencode({**form, "Body": "STOP"}),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert answer.status_code == 403


def test_without_a_token_requests_are_taken_unsigned(tmp_path: Path) -> None:
    web = Web(tmp_path, token="")
    answer = web.client.post("/v1/twilio/inbound", data=text("STOP"))
    assert answer.status_code == 200
    assert web.registry.opted_out(JANE, "dr-jenny", Channel.SMS) is not None


def test_a_sender_that_is_not_a_phone_number_is_a_400_naming_from(web: Web) -> None:
    answer = web.post("/v1/twilio/inbound", text("STOP", sender="CLINIC"))
    assert answer.status_code == 400
    assert answer.json()["detail"].startswith("From:")


def sent(web: Web, sid: str = "SM" + "b" * 32) -> str:
    web.ledger.claim(reminder(), Channel.SMS, NOW)
    web.ledger.finish(reminder().reminder_id, Channel.SMS, LedgerState.SENT, NOW, provider_id=sid)
    return sid


def status(sid: str, state: str, error: str | None = None) -> dict[str, str]:
    form = {"MessageSid": sid, "MessageStatus": state, "AccountSid": "AC" + "1" * 32}
    return {**form, "ErrorCode": error} if error else form


def test_delivered_updates_the_ledger_and_is_published(web: Web) -> None:
    sid = sent(web)
    web.clock.advance(timedelta(seconds=4))
    answer = web.post("/v1/twilio/status", status(sid, "delivered"))
    assert answer.json() == {"message_sid": sid, "result": "updated"}
    row = web.ledger.get(reminder().reminder_id, Channel.SMS)
    assert row is not None and row.state is LedgerState.DELIVERED
    [raw] = web.on(TOPICS.status)
    published = decode(NotificationStatus, raw)
    assert (published.state, published.provider_id, published.booking_id) == (
        DeliveryState.DELIVERED,
        sid,
        "bk-1001",
    )
    assert published.occurred_at == NOW + timedelta(seconds=4)
    assert web.published[0][1] == "dr-jenny:p-42"


def test_undelivered_is_a_failure_with_the_error_code(web: Web) -> None:
    sid = sent(web)
    web.post("/v1/twilio/status", status(sid, "undelivered", "30003"))
    published = decode(NotificationStatus, web.on(TOPICS.status)[0])
    assert published.state is DeliveryState.FAILED
    assert published.reason == "30003: Twilio reports the text undelivered"
    assert 'reason="30003"' in web.client.get("/metrics").text


def test_intermediate_repeated_and_unknown_callbacks_publish_nothing(web: Web) -> None:
    sid = sent(web)
    early = web.post("/v1/twilio/status", status(sid, "sent"))
    assert early.json()["result"] == "not final"
    web.post("/v1/twilio/status", status(sid, "delivered"))
    again = web.post("/v1/twilio/status", status(sid, "failed", "30008"))
    assert again.json()["result"] == "already settled"
    unknown = web.post("/v1/twilio/status", status("SM" + "c" * 32, "delivered"))
    assert unknown.status_code == 404
    assert len(web.on(TOPICS.status)) == 1
    row = web.ledger.get(reminder().reminder_id, Channel.SMS)
    assert row is not None and row.state is LedgerState.DELIVERED


def test_a_status_callback_needs_a_signature_too(web: Web) -> None:
    sid = sent(web)
    answer = web.client.post("/v1/twilio/status", data=status(sid, "delivered"))
    assert answer.status_code == 403
    row = web.ledger.get(reminder().reminder_id, Channel.SMS)
    assert row is not None and row.state is LedgerState.SENT


def test_health_needs_the_ledger_and_assigned_partitions(web: Web) -> None:
    assert web.client.get("/healthz").json() == {
        "status": "ok",
        "ledger": "ok",
        "partitions": [0, 1],
    }
    web.partitions = ()
    answer = web.client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["status"] == "unhealthy"


def test_metrics_are_in_prometheus_text_with_the_ledger_backlog(web: Web) -> None:
    web.ledger.claim(reminder(), Channel.EMAIL, NOW)
    web.metrics.record_consumed("u.clinic.reminders.due.v1", 3)
    answer = web.client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    assert "clinic_ledger_backlog 1.0" in answer.text
    assert (
        'clinic_events_consumed_total{service="notifier",topic="u.clinic.reminders.due.v1"} 3.0'
        in answer.text
    )


@pytest.mark.parametrize(
    "raw",
    [b"From=%2B447700900123&Body=\xff\xfe", b"From=%2B447700900123&Body=%FF%FE"],
    ids=["raw-bytes", "escaped-bytes"],
)
def test_a_form_that_is_not_utf8_is_a_400_before_anything_else(web: Web, raw: bytes) -> None:
    answer = web.client.post(
        "/v1/twilio/inbound",
        content=raw,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 400, answer.text
    assert "UTF-8" in answer.text


def test_a_form_past_64_kb_is_a_413(web: Web) -> None:
    answer = web.client.post("/v1/twilio/inbound", data=text("x" * 70_000))
    assert answer.status_code == 413


def test_a_confirmation_to_a_number_no_clinic_is_mapped_to_confirms_nothing(web: Web) -> None:
    """Numbers are mapped and this one is not: no clinic's booking is confirmed by it."""
    web.booked()
    web.post("/v1/twilio/inbound", text("C", to="+447700900555", sid="SM" + "u" * 32))
    assert web.published == []
    [reply] = web.replies()
    assert (reply.kind, reply.clinic_id, reply.booking_id) == (
        ReplyKind.UNMATCHED_CONFIRM,
        UNMAPPED,
        None,
    )
