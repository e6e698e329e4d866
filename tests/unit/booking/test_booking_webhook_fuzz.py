"""Whatever a clinic's system puts in its webhook JSON, the booking service answers below 500.

Property-based over the sample webhook of tests/unit/booking/samples: any
field of it replaced by any JSON value (lists, objects, huge numbers, odd
text), fields dropped, and bodies that are not that JSON at all.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.booking.http.api import create_app
from services.booking.settings import BookingSettings
from services.booking.store.store import BookingStore
from services.shared.clock import ManualClock

SAMPLES = Path(__file__).parent / "samples"
CREATED: dict[str, Any] = json.loads((SAMPLES / "appointment-created.json").read_text())
SETTINGS = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=40),
    st.sampled_from(["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00", "07700 900123"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def leaf_paths(node: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(node, dict):
        found = [prefix] if prefix else []
        for key, value in node.items():
            found += leaf_paths(value, (*prefix, key))
        return found
    return [prefix]


PATHS = leaf_paths(CREATED)


@pytest.fixture(scope="module")
def hook() -> Iterator[TestClient]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "webhooks").mkdir()
        shutil.copy(SAMPLES / "dr-jenny.yaml", root / "webhooks")
        store = BookingStore(f"sqlite:///{root}/booking.db")
        settings = BookingSettings(var_dir=root, booking_webhook_dir=root / "webhooks")
        clock = ManualClock(datetime(2026, 11, 1, 9, tzinfo=UTC))
        with TestClient(create_app(settings, store, clock)) as client:
            yield client
        store.close()


@SETTINGS
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(PATHS), json_values | st.just(...)), min_size=1, max_size=3
    )
)
def test_any_field_of_the_webhook_changed_or_dropped_gets_no_server_error(
    hook: TestClient, changes: list[tuple[tuple[str, ...], Any]]
) -> None:
    payload = copy.deepcopy(CREATED)
    for path, value in changes:
        node = payload
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                break
            node = node[part]
        else:
            if value is ...:
                node.pop(path[-1], None)
            else:
                node[path[-1]] = value
    answer = hook.post("/v1/webhooks/dr-jenny", json=payload)
    assert answer.status_code < 500, (payload, answer.text)


@SETTINGS
@given(body=json_values)
def test_any_json_body_gets_no_server_error(hook: TestClient, body: Any) -> None:
    answer = hook.post("/v1/webhooks/dr-jenny", json=body)
    assert answer.status_code < 500, (body, answer.text)
