"""The notifier's loop on the real broker, for every test of this folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.notifier.settings import NotifierSettings
from services.shared.broker import EmbeddedBroker
from services.shared.clock import ManualClock
from services.shared.topics import Topics
from tests.support.kafka import TopicReader
from tests.support.notifier_loop import NOW, SMS, loop_running


@pytest.fixture
def settings(
    broker: EmbeddedBroker, topics: Topics, group_id: str, tmp_path: Path
) -> NotifierSettings:
    wording = tmp_path / "templates" / "dr-jenny" / "en-GB"
    wording.mkdir(parents=True)
    (wording / "pre-treatment.sms.j2").write_text(SMS)
    return NotifierSettings(
        bootstrap_servers=broker.bootstrap,
        topic_prefix=topics.prefix,
        var_dir=tmp_path / "var",
        consumer_group=group_id,
        templates_dir=tmp_path / "templates",
    )


@pytest.fixture
def running(settings: NotifierSettings, clock: ManualClock) -> Iterator[ManualClock]:
    with loop_running(settings, clock):
        yield clock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def statuses(settings: NotifierSettings) -> Iterator[TopicReader]:
    reader = TopicReader(settings.bootstrap_servers, settings.topics.status)
    yield reader
    reader.close()
