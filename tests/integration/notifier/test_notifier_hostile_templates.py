"""Three clinics with a bad template each, one with good ones: only the bad ones' deliveries fail.

On the real broker, through the notifier's loop: a template that raises, one
that loops for ever and one that reaches for another clinic's file each fail
their own delivery with the reason and the path; the notifier carries on and
the other clinic's texts go out, before and after them.
"""

from __future__ import annotations

import time

import pytest

from services.notifier.delivery.ledger import Delivery, DeliveryLedger
from services.notifier.settings import NotifierSettings
from services.shared.events import Channel, encode
from tests.support.kafka import produce
from tests.support.notifier_loop import sms_lines
from tests.support.reminders import patient, reminder

pytestmark = pytest.mark.integration

BAD = {
    "raises": ("{{ 1/0 }}", "ZeroDivisionError"),
    "loops": (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "ran longer than",
    ),
    "peeks": (
        '{% include "clinic/dr-jenny/en-GB/pre-treatment.sms.j2" %}',
        "not found in the clinic's own folder or the defaults",
    ),
}


@pytest.mark.usefixtures("running")
def test_each_bad_template_fails_only_its_own_delivery(settings: NotifierSettings) -> None:
    assert settings.templates_dir is not None
    for clinic, (text, _) in BAD.items():
        folder = settings.templates_dir / clinic / "en-GB"
        folder.mkdir(parents=True)
        (folder / "pre-treatment.sms.j2").write_text(text)
    order = ["dr-jenny", *BAD, "dr-jenny"]
    for n, clinic in enumerate(order):
        due = reminder(
            clinic_id=clinic,
            reminder_id=f"r-{n}",
            patient=patient(id=f"p-{n}", phone=f"+4477009002{n:02d}"),
            channels=(Channel.SMS,),
        )
        produce(settings.bootstrap_servers, settings.topics.due, due.key, encode(due))

    rows = wait_for_rows(settings, len(order))
    for n, clinic in enumerate(order):
        row = rows[f"r-{n}"]
        if clinic == "dr-jenny":
            assert row.state.value == "sent", row
            continue
        assert row.state.value == "failed", row
        assert f"template clinic/{clinic}/en-GB/pre-treatment.sms.j2" in (row.reason or "")
        assert BAD[clinic][1] in (row.reason or ""), row.reason
    texts = sms_lines(settings)
    assert sorted(line["reminder_id"] for line in texts) == ["r-0", "r-4"]
    assert all(line["body"] == "Hi Jane, see you Tue 1 Dec." for line in texts)


def wait_for_rows(
    settings: NotifierSettings, count: int, timeout: float = 30.0
) -> dict[str, Delivery]:
    ledger = DeliveryLedger(settings.database_url)
    deadline = time.monotonic() + timeout
    try:
        while True:
            found = {f"r-{n}": ledger.get(f"r-{n}", Channel.SMS) for n in range(count)}
            settled = {k: row for k, row in found.items() if row and row.state.value != "sending"}
            if len(settled) == count or time.monotonic() > deadline:
                assert len(settled) == count, found
                return settled
            time.sleep(0.1)
    finally:
        ledger.close()
