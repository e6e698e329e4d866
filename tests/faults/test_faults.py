"""Kill the worker and the notifier, make the providers fail, lose the broker: then count.

Every (reminder, channel) that fell due must have reached its provider exactly
once, or be recorded with the reason it was not sent. Nothing twice, nothing
missing. ``FAULT_SEED`` replays a run; ``make chaos`` runs a bigger one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.shared.clock import ScaledClock
from tests.faults.driver import Driver, describe
from tests.faults.harness import FaultPlatform
from tests.faults.scenario import Size, seed_from_environment, story, unfold
from tests.faults.tally import Tally
from tests.support.providers import Mailbox, RecordingTwilio, SmtpServer

pytestmark = pytest.mark.e2e

# A Monday morning in November, so the run crosses nights, quiet hours and a weekend-free week.
START = datetime(2026, 11, 16, 7, 0, tzinfo=UTC)


@pytest.fixture
def size() -> Size:
    return Size.from_environment()


@pytest.fixture
def twilio() -> Iterator[RecordingTwilio]:
    with RecordingTwilio() as server:
        yield server


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer(Mailbox()) as server:
        yield server


@pytest.mark.chaos
def test_faults_lose_nothing_and_send_nothing_twice(
    tmp_path: Path, size: Size, twilio: RecordingTwilio, smtp: SmtpServer
) -> None:
    assert_nothing_lost(run(tmp_path, size, twilio, smtp), size)


def run(tmp_path: Path, size: Size, twilio: RecordingTwilio, smtp: SmtpServer) -> Tally:
    """Plays one seed's story on a fresh platform and counts every outcome."""
    print(describe(size), flush=True)
    clock = ScaledClock(scale=size.scale, start=START)
    platform = FaultPlatform(
        tmp_path / "var", clock, twilio.base_url, smtp.port, broker=size.broker
    )
    steps = (tmp_path / "steps.log").open("a")

    def say(line: str) -> None:
        print(line, flush=True)
        steps.write(f"{clock.now():%a %H:%M} {line}\n")
        steps.flush()

    driver = Driver(platform, twilio, smtp.mailbox, say=say)
    try:
        platform.start()
        told = story(size, platform.now())
        driver.book(told)
        unfold(told, size, platform.now())
        driver.play(told.steps)
        end = max(told.end, clock.now())
        margin = timedelta(seconds=2.5 * size.scale)
        driver.finish(end, margin)
        result = driver.count(end, margin)
        result.drifted = driver.drifted
        result.problems = driver.problems
        result.latest = driver.latest
    finally:
        platform.stop()
        driver.close()
        statuses = "\n".join(s.model_dump_json() for s in platform.tap.statuses)
        (tmp_path / "statuses.jsonl").write_text(statuses)
    print(describe(size), flush=True)
    print(result.table(), flush=True)
    for name in ("reminders", "notifier", "booking"):
        print(f"{name}: {', '.join(warnings(tmp_path / 'var' / f'{name}.log')) or 'no warnings'}")
    return result


def warnings(log: Path, most: int = 12) -> list[str]:
    """The service's distinct WARNING and ERROR lines, each with how often, without the
    clients' own lines about a node that is down (every failover has them)."""
    noise = ("Unable connect", "Failed fetch", "Connection", "KafkaTCPTransport", "Metadata")
    seen: dict[str, int] = {}
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        if (" WARNING " in line or " ERROR " in line) and not any(n in line for n in noise):
            text = re.sub(r"\d+(\.\d+)?", "N", line.split(": ", 1)[-1])
            seen[text] = seen.get(text, 0) + 1
    return [f"{text} (x{count})" for text, count in list(seen.items())[:most]]


@pytest.mark.integration
def test_a_cluster_losing_its_busiest_leader_then_its_controller_loses_nothing(
    tmp_path: Path, twilio: RecordingTwilio, smtp: SmtpServer
) -> None:
    """Three Apache Kafka nodes under a steady stream of bookings and due reminders: the
    busiest leader dies and comes back, then the active controller. No service restarts."""
    size = Size(
        seed=seed_from_environment(),
        bookings=24,
        hours=40,
        broker="cluster",
        worker_kills=0,
        notifier_kills=0,
        twilio_bursts=0,
        smtp_outages=0,
        twilio_outages=0,
    )
    assert_nothing_lost(run(tmp_path, size, twilio, smtp), size)


@pytest.mark.integration
def test_two_overlapping_twilio_outages_among_kills_and_a_lost_broker_lose_nothing(
    tmp_path: Path, twilio: RecordingTwilio, smtp: SmtpServer
) -> None:
    """A smaller in-suite story (24 bookings, 40 platform hours, a kill of each service,
    the broker lost whole) with a second Twilio outage beginning inside the first."""
    size = Size(
        seed=seed_from_environment(), bookings=24, hours=40, twilio_outages=2, overlapping=True
    )
    assert_nothing_lost(run(tmp_path, size, twilio, smtp), size)


def assert_nothing_lost(result: Tally, size: Size) -> None:
    found = result.duplicates + result.missing + result.unexplained + result.not_current
    for line in result.problems + result.drifted + found + result.gave_up + result.held:
        print("  ", line, flush=True)
    assert result.problems == [], f"the story could not be played (seed {size.seed})"
    assert result.drifted == [], f"steps ran later than the tolerance (seed {size.seed})"
    assert result.duplicates == [], f"sent twice (seed {size.seed})"
    assert result.missing == [], f"lost (seed {size.seed})"
    assert result.unexplained == [], f"provider records no ledger row explains (seed {size.seed})"
    assert result.not_current == [], f"sent for a plan no longer current (seed {size.seed})"
    assert result.gave_up == [], f"retries given up while still of use (seed {size.seed})"
    assert result.sent > 0
