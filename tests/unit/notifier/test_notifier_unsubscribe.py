"""Email unsubscribe links: signed per recipient, carried in headers and footer, honoured.

The web app runs in-process on real stores (SQLite); what it publishes is kept.
"""

from __future__ import annotations

import base64
import io
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from services.notifier.bookings.seen import BookingsSeen
from services.notifier.delivery.deliverer import Deliverer
from services.notifier.delivery.hand_over import Senders
from services.notifier.delivery.ledger import DeliveryLedger
from services.notifier.delivery.retry import Backoff, RetryPolicy
from services.notifier.http.app import WebParts, create_app
from services.notifier.http.status_callbacks import StatusCallbacks
from services.notifier.http.unsubscribe_web import UnsubscribeParts, one_click
from services.notifier.messages.rendering import TemplateRenderer
from services.notifier.patients.email_opt_out import EmailOptOuts
from services.notifier.patients.inbound import InboundStores, InboundTexts
from services.notifier.patients.inbound_log import InboundLog
from services.notifier.patients.registry import ConsentRegistry
from services.notifier.patients.replies import RepliesInbox
from services.notifier.patients.unsubscribe import (
    KEY_FILE,
    ONE_CLICK,
    InvalidLink,
    Unsubscribe,
    UnsubscribeLinks,
    signing_key,
)
from services.notifier.senders.local import LocalEmailSender, LocalSmsSender
from services.notifier.settings import NotifierSettings
from services.shared.clinics import ClinicDirectory, ClinicInfo
from services.shared.clock import ManualClock
from services.shared.events import Channel, ConsentChanged, DeliveryState, decode
from services.shared.metrics import PlatformMetrics
from services.shared.topics import Topics
from tests.support.reminders import reminder

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
KEY = b"k" * 32
BASE = "https://notify.clinic.example"
JANE = "jane@example.com"
TOPICS = Topics("u.")
CLINICS = ClinicDirectory({"dr-jenny": ClinicInfo(name="Dr Jenny", phone="+442079460000")})
LINKS = UnsubscribeLinks(KEY, BASE)


def token_of(url: str) -> str:
    return url.rsplit("/", 1)[1]


def test_a_link_reads_back_as_its_clinic_address_and_channel() -> None:
    url = LINKS.url("dr-jenny", JANE)
    assert url.startswith(f"{BASE}/v1/unsubscribe/")
    assert LINKS.read(token_of(url)) == Unsubscribe("dr-jenny", JANE, Channel.EMAIL)
    assert JANE not in url
    assert LINKS.url("dr-jenny", JANE) == url  # the same recipient, the same link
    assert LINKS.url("dr-jenny", "john@example.com") != url
    assert LINKS.url("elsewhere", JANE) != url


def test_a_link_hides_the_address_from_whoever_logs_it() -> None:
    """Not base64 of it either: a proxy's log of the link tells nothing about the patient."""
    token = token_of(LINKS.url("dr-jenny", JANE))
    version, sealed = token.split(".")
    assert version == "e1"
    raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
    assert JANE.encode() not in raw and b"jane" not in raw and b"dr-jenny" not in raw


def test_a_sealed_link_changed_by_hand_or_made_with_another_key_is_refused() -> None:
    token = token_of(LINKS.url("dr-jenny", JANE))
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    refused = {
        flipped: "seal does not match",
        token_of(UnsubscribeLinks(b"x" * 32, BASE).url("dr-jenny", JANE)): "seal does not match",
        "e1.": "seal does not match",
        "e1.AAAA": "seal does not match",
    }
    for bad, problem in refused.items():
        with pytest.raises(InvalidLink, match=problem):
            LINKS.read(bad)


def signed_link(fields: bytes, key: bytes = KEY) -> str:
    """A link as notifiers made them before links were sealed (still in patients' inboxes)."""
    import hashlib
    import hmac

    signature = hmac.new(key, b"clinic-reminders unsubscribe v1\x00" + fields, hashlib.sha256)
    encode = base64.urlsafe_b64encode
    return (
        f"{encode(fields).rstrip(b'=').decode()}.{encode(signature.digest()).rstrip(b'=').decode()}"
    )


def test_a_link_sent_before_links_were_sealed_still_unsubscribes() -> None:
    old = signed_link(b"email\x00dr-jenny\x00jane@example.com")
    assert LINKS.read(old) == Unsubscribe("dr-jenny", JANE, Channel.EMAIL)


def test_a_signed_link_changed_by_hand_or_made_with_another_key_is_refused() -> None:
    fields, signature = signed_link(b"email\x00dr-jenny\x00jane@example.com").split(".")
    other = base64.urlsafe_b64encode(b"email\x00dr-jenny\x00john@example.com").rstrip(b"=")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    refused = {
        f"{other.decode()}.{signature}": "signature does not match",
        f"{fields}.{flipped}": "signature does not match",
        signed_link(b"email\x00dr-jenny\x00jane@example.com", b"x" * 32): "does not match",
        fields: "has no signature",
        f"{fields}.": "has no signature",
        "not a link!": "not an unsubscribe link",
    }
    for token, problem in refused.items():
        with pytest.raises(InvalidLink, match=problem):
            LINKS.read(token)


def test_the_headers_are_rfc_2369_with_rfc_8058_one_click() -> None:
    headers = LINKS.headers("dr-jenny", JANE)
    assert headers == {
        "List-Unsubscribe": f"<{LINKS.url('dr-jenny', JANE)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert re.fullmatch(r"<https://[^<>\s,]+>", headers["List-Unsubscribe"])


def test_without_a_secret_a_key_is_made_once_and_kept(tmp_path: Path) -> None:
    first = signing_key(None, tmp_path)
    assert len(first) == 32 and signing_key(None, tmp_path) == first
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert signing_key(SecretStr("a shared secret, 16+"), tmp_path) == b"a shared secret, 16+"
    (tmp_path / KEY_FILE).write_text("not hex")
    with pytest.raises(ValueError, match="does not hold an unsubscribe key"):
        signing_key(None, tmp_path)


def test_a_short_secret_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="at least 16 characters"):
        NotifierSettings(unsubscribe_secret=SecretStr("short"))


def test_one_click_is_read_from_urlencoded_and_multipart_bodies() -> None:
    assert one_click("application/x-www-form-urlencoded", ONE_CLICK.encode())
    multipart = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n"
        b"--XyZ--\r\n"
    )
    assert one_click("multipart/form-data; boundary=XyZ", multipart)
    assert not one_click("application/x-www-form-urlencoded", b"")
    assert not one_click("application/x-www-form-urlencoded", b"List-Unsubscribe=Yes")


def renderer(links: UnsubscribeLinks | None = LINKS) -> TemplateRenderer:
    return TemplateRenderer(None, CLINICS, links=links)


def test_an_email_carries_its_link_in_headers_text_and_html() -> None:
    due = reminder(template="treatment-reminder")
    message = renderer().render(due, Channel.EMAIL)
    url = LINKS.url("dr-jenny", JANE)
    assert message.headers == LINKS.headers("dr-jenny", JANE)
    assert message.text.endswith(f"\n\nUnsubscribe: no more emails from Dr Jenny\n{url}\n")
    assert message.html is not None
    assert f'<a href="{url}" style="color:#6b7280;">Unsubscribe: no more emails' in message.html
    french = renderer().render(
        reminder(
            template="treatment-reminder",
            patient=due.patient.model_copy(update={"locale": "fr-FR"}),
        ),
        Channel.EMAIL,
    )
    assert f"Se désabonner : plus aucun e-mail de Dr Jenny\n{url}\n" in french.text
    assert renderer().render(due, Channel.SMS).headers == {}


def test_without_links_an_email_has_no_footer_and_no_headers() -> None:
    message = renderer(None).render(reminder(template="treatment-reminder"), Channel.EMAIL)
    assert message.headers == {} and "unsubscribe" not in message.text.lower()
    assert message.html is not None and "/v1/unsubscribe/" not in message.html


class Web:
    """The notifier's app on real stores, with unsubscribe links; publishes into a list."""

    def __init__(self, tmp_path: Path) -> None:
        url = f"sqlite:///{tmp_path}/notifier.db"
        self.clock = ManualClock(NOW)
        self.ledger = DeliveryLedger(url)
        self.registry = ConsentRegistry(url)
        self.published: list[tuple[str, str | None, bytes]] = []
        metrics = PlatformMetrics("notifier")
        stores = InboundStores(self.registry, BookingsSeen(url), RepliesInbox(url), InboundLog(url))
        inbound = InboundTexts(stores, TOPICS, CLINICS, {}, self.clock, self.publish)
        callbacks = StatusCallbacks(self.ledger, TOPICS, self.clock, self.publish, metrics)
        opt_outs = EmailOptOuts(self.registry, TOPICS, self.clock, self.publish)
        parts = WebParts(
            self.ledger,
            inbound,
            callbacks,
            metrics,
            lambda: (0,),
            unsubscribe=UnsubscribeParts(LINKS, opt_outs, CLINICS),
        )
        self.client = TestClient(create_app(parts))
        self.path = "/v1/unsubscribe/" + token_of(LINKS.url("dr-jenny", JANE))

    def publish(self, topic: str, key: str | None, value: bytes) -> None:
        self.published.append((topic, key, value))

    def one_click(self) -> int:
        answer = self.client.post(
            self.path,
            content=ONE_CLICK,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        status: int = answer.status_code
        return status


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    made = Web(tmp_path)
    with made.client:
        yield made
    made.ledger.close()
    made.registry.close()


def test_a_get_shows_a_confirm_button_and_unsubscribes_nobody(web: Web) -> None:
    for _ in range(3):  # a mail client, a link scanner, the patient
        page = web.client.get(web.path)
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert '<form method="post">' in page.text
        assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page.text
        assert "Stop the emails Dr Jenny sends to j***@example.com?" in page.text
    assert web.registry.latest(JANE, "dr-jenny", Channel.EMAIL) is None
    assert web.published == []


def test_a_one_click_post_opts_the_address_out_of_that_clinics_email_once(web: Web) -> None:
    assert web.one_click() == 200
    withdrawn = web.registry.opted_out(JANE, "dr-jenny", Channel.EMAIL)
    assert withdrawn is not None and withdrawn.changed_at == NOW
    assert withdrawn.source == "email-unsubscribe"
    assert web.registry.opted_out(JANE, "elsewhere", Channel.EMAIL) is None
    [(topic, key, raw)] = web.published
    change = decode(ConsentChanged, raw)
    assert (topic, key) == (TOPICS.consent, f"dr-jenny:{JANE}")
    assert (change.clinic_id, change.email, change.phone, change.channel, change.granted) == (
        "dr-jenny",
        JANE,
        None,
        Channel.EMAIL,
        False,
    )
    web.clock.advance(timedelta(hours=1))
    assert web.one_click() == 200  # again: nothing changes, nothing is published
    again = web.registry.opted_out(JANE, "dr-jenny", Channel.EMAIL)
    assert again is not None and again.changed_at == NOW and len(web.published) == 1
    page = web.client.get(web.path)
    assert "Dr Jenny will send no more emails to j***@example.com" in page.text
    assert "<form" not in page.text


def test_a_bad_or_missing_signature_is_a_403_naming_it(web: Web) -> None:
    base = web.path.rsplit("/", 1)[0]
    fields = signed_link(b"email\x00dr-jenny\x00jane@example.com").split(".")[0]
    for path, problem in [
        (f"{base}/e1.AAAA", "the link&#x27;s seal does not match"),
        (f"{base}/{fields}", "the link has no signature"),
        (f"{base}/{fields}.AAAA", "the link&#x27;s signature does not match"),
    ]:
        for answer in (web.client.get(path), web.client.post(path, content=ONE_CLICK)):
            assert answer.status_code == 403 and problem in answer.text
    assert web.published == [] and web.registry.latest(JANE, "dr-jenny", Channel.EMAIL) is None


def test_a_post_without_the_one_click_body_changes_nothing(web: Web) -> None:
    answer = web.client.post(web.path)
    assert answer.status_code == 400 and "List-Unsubscribe=One-Click" in answer.text
    assert web.published == []


def test_an_email_opt_out_skips_email_and_only_email(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/notifier.db"
    clock = ManualClock(NOW)
    registry = ConsentRegistry(url)
    EmailOptOuts(registry, TOPICS, clock, lambda *record: None).withdraw(
        Unsubscribe("dr-jenny", "Jane@Example.com", Channel.EMAIL)
    )
    outbox, echo = tmp_path / "outbox", io.StringIO()
    deliverer = Deliverer(
        DeliveryLedger(url),
        renderer(),
        Senders(LocalSmsSender(outbox, clock, echo), LocalEmailSender(outbox, clock, echo)),
        clock,
        RetryPolicy(Backoff(0.5, 8.0, random.Random(7))),
        registry,
    )
    due = reminder(template="treatment-reminder")
    email = deliverer.deliver(due, Channel.EMAIL)
    sms = deliverer.deliver(due, Channel.SMS)
    assert email.status.state is DeliveryState.SKIPPED
    assert email.status.reason == f"opted out of email by its unsubscribe link at {NOW.isoformat()}"
    assert sms.status.state is DeliveryState.SENT
    assert not (outbox / "email.jsonl").exists()
    elsewhere = reminder(template="treatment-reminder", clinic_id="elsewhere", reminder_id="r-2")
    assert deliverer.deliver(elsewhere, Channel.EMAIL).status.state is DeliveryState.SENT
    [line] = [json.loads(x) for x in (outbox / "email.jsonl").read_text().splitlines()]
    assert line["headers"] == LINKS.headers("elsewhere", JANE)
    registry.close()
