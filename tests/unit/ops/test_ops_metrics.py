"""The shared metrics: labels stay bounded and free of personal data, values add up."""

from __future__ import annotations

import pytest

from services.shared.metrics import PlatformMetrics, observe_backlogs, reason_label


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        (None, "none"),
        ("", "none"),
        ("InvalidEvent: data.patient.phone: phone '123' is not in E.164 form", "InvalidEvent"),
        ("21211: +447700900123 is not a valid number", "21211"),
        ("stale: due 2026-11-30T10:00:00+00:00", "stale"),
        ("jane@example.com refused", "other"),
        ("+447700900123 unreachable", "other"),
    ],
)
def test_reasons_become_short_labels_without_personal_data(reason: str | None, label: str) -> None:
    assert reason_label(reason) == label


def test_counters_and_histogram_count_what_was_recorded() -> None:
    metrics = PlatformMetrics("notifier")
    metrics.record_consumed("clinic.reminders.due.v1", 3)
    metrics.record_produced("clinic.notifications.status.v1")
    metrics.record_delivery("sms", "failed", "21610: unsubscribed")
    metrics.record_delivery("sms", "failed", "21610: unsubscribed again")
    with pytest.raises(RuntimeError), metrics.time_provider("sms", "twilio"):
        raise RuntimeError("provider down")
    value = metrics.registry.get_sample_value
    assert (
        value(
            "clinic_events_consumed_total",
            {"service": "notifier", "topic": "clinic.reminders.due.v1"},
        )
        == 3
    )
    assert (
        value("clinic_deliveries_total", {"channel": "sms", "state": "failed", "reason": "21610"})
        == 2
    )
    assert (
        value("clinic_provider_latency_seconds_count", {"channel": "sms", "provider": "twilio"})
        == 1
    )


def test_backlog_gauges_take_what_is_known_and_keep_the_rest() -> None:
    metrics = PlatformMetrics("ops")
    observe_backlogs(metrics, outbox=4, pending=10)
    observe_backlogs(
        metrics,
        lag=[("clinic-notifier", "clinic.reminders.due.v1", 2, 7)],
        ledger_states={"sent": 9, "pending": 2, "sending": 1},
        due_soon=3,
    )
    value = metrics.registry.get_sample_value
    assert value("clinic_outbox_backlog", {}) == 4
    assert value("clinic_reminders_pending", {}) == 10
    assert value("clinic_reminders_due_next_hour", {}) == 3
    assert value("clinic_ledger_backlog", {}) == 3
    labels = {"group": "clinic-notifier", "topic": "clinic.reminders.due.v1", "partition": "2"}
    assert value("clinic_consumer_lag", labels) == 7
