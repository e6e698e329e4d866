"""The notifier with its HTTP side on a free port, over the real broker, for webhook tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from twilio.request_validator import RequestValidator

from services.notifier.bootstrap import Notifier, notifier
from services.notifier.http.server import HttpServer
from services.notifier.settings import NotifierSettings
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock
from services.shared.topics import Topics
from tests.support.kafka import TopicReader, assigned_consumer

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TOKEN = "twilio-auth-token"
CLINIC_NUMBER = "+447700900999"
JANE = "+447700900123"


@dataclass
class Running:
    """A running notifier: signed posts to its webhooks, and readers of its topics."""

    settings: NotifierSettings
    built: Notifier
    address: str

    def post(self, path: str, form: dict[str, str]) -> httpx.Response:
        url = f"{self.address}{path}"
        signature = RequestValidator(TOKEN).compute_signature(url, form)
        return httpx.post(url, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)

    def read(self, topic: str) -> TopicReader:
        return TopicReader(self.settings.bootstrap_servers, topic)


def settings_for(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path, **extra: Any
) -> NotifierSettings:
    wording = tmp_path / "templates" / "dr-jenny" / "en-GB"
    wording.mkdir(parents=True)
    (wording / "pre-treatment.sms.j2").write_text("Hi {{ patient.first_name }}.")
    return NotifierSettings(
        bootstrap_servers=broker.bootstrap,
        topic_prefix=topics.prefix,
        consumer_group=group_id,
        var_dir=tmp_path / "var",
        templates_dir=tmp_path / "templates",
        default_quiet_hours="",
        notifier_http_port=0,
        twilio_auth_token=TOKEN,
        twilio_inbound_numbers={CLINIC_NUMBER: "dr-jenny"},
        **extra,
    )


def run(settings: NotifierSettings) -> Iterator[Running]:
    """The notifier (its loop on an assigned consumer, its HTTP side) until closed."""
    stop = threading.Event()
    consumer = assigned_consumer(
        settings.bootstrap_servers, settings.topics.due, settings.consumer_group
    )
    with (
        notifier(settings, ManualClock(NOW), stop, consumer) as built,
        HttpServer(built.app, settings.notifier_http_host, 0) as http,
    ):
        thread = threading.Thread(target=built.run, args=(stop,), daemon=True)
        thread.start()
        yield Running(settings, built, http.address)
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
