"""Whatever a server (or anyone) pushes is read into a notice or refused naming the field:
never any other error, whatever the JSON."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.booking.sources.fhir.notifications import BadNotice, Notice, read_notice

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
NAMES = st.sampled_from(
    ["Bundle", "Appointment", "SubscriptionStatus", "Parameters", "Patient", 7, None]
)
ENTRY = st.fixed_dictionaries(
    {},
    optional={
        "fullUrl": st.sampled_from(["Appointment/1", "http://x/fhir/Appointment/2/_history/3", 5]),
        "resource": st.fixed_dictionaries(
            {"resourceType": NAMES},
            optional={
                "type": st.sampled_from(["handshake", "event-notification", 3]),
                "notificationEvent": JSON,
                "parameter": JSON,
                "id": JSON,
            },
        )
        | JSON,
    },
)
BUNDLE = st.fixed_dictionaries(
    {"resourceType": st.just("Bundle")},
    optional={
        "type": st.sampled_from(["history", "subscription-notification", "searchset", 1]),
        "entry": st.lists(ENTRY, max_size=4) | JSON,
    },
)


def read(value: Any, appointment_id: str | None = None) -> Notice | BadNotice:
    try:
        return read_notice(json.dumps(value).encode(), appointment_id)
    except BadNotice as refused:
        assert refused.field and str(refused).startswith(refused.field)
        return refused


ODD_STATUSES = [
    {"resourceType": "SubscriptionStatus", "notificationEvent": 5},
    {"resourceType": "SubscriptionStatus", "notificationEvent": [{"focus": "Appointment/1"}]},
    {"resourceType": "Parameters", "parameter": {"name": "type"}},
    {"resourceType": "Parameters", "parameter": [{"name": "notification-event", "part": 3}]},
    {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "notification-event", "part": [{"name": "focus", "valueReference": 1}]}
        ],
    },
]


@settings(max_examples=300, deadline=None)
@given(JSON | BUNDLE)
@example({"resourceType": "Bundle", "type": "history", "entry": [{"resource": ODD_STATUSES[0]}]})
@example({"resourceType": "Bundle", "type": "history", "entry": [{"resource": ODD_STATUSES[1]}]})
@example({"resourceType": "Bundle", "type": "history", "entry": [{"resource": ODD_STATUSES[2]}]})
@example({"resourceType": "Bundle", "type": "history", "entry": [{"resource": ODD_STATUSES[3]}]})
@example({"resourceType": "Bundle", "type": "history", "entry": [{"resource": ODD_STATUSES[4]}]})
def test_any_json_is_read_or_refused_naming_the_field(value: Any) -> None:
    read(value)
    read(value, "appt-1")


def test_the_three_payloads_of_a_topic_notification() -> None:
    status = {
        "resourceType": "SubscriptionStatus",
        "type": "event-notification",
        "notificationEvent": [{"focus": {"reference": "Appointment/9"}}],
    }
    empty = read(
        {
            "resourceType": "Bundle",
            "type": "subscription-notification",
            "entry": [{"resource": status}],
        }
    )
    assert isinstance(empty, Notice) and empty.references == ["Appointment/9"]
    ids = read(
        {
            "resourceType": "Bundle",
            "type": "subscription-notification",
            "entry": [
                {"resource": status},
                {"fullUrl": "https://ehr/fhir/Appointment/9/_history/2"},
            ],
        }
    )
    assert isinstance(ids, Notice) and ids.references == ["Appointment/9"]
    nothing = {**status, "notificationEvent": []}
    look = read({"resourceType": "Bundle", "type": "history", "entry": [{"resource": nothing}]})
    assert isinstance(look, Notice) and look.look_again
