"""Whatever ids, queries and forms a logged-in user's browser sends, the console answers below 500.

Property-based over the console's own routes (an admin, so the reveal and
mark-handled forms are reached), on in-memory sources.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.booking.store.queries import StoredBooking
from services.notifier.patients.replies import InboxReply, ReplyKind
from services.ops.web.app import create_app
from services.shared.clock import ManualClock
from tests.support.ops_auth import ADMIN, log_in_client, make_auth
from tests.unit.ops_web.fakes import NOW, FakeSources
from tests.unit.reminders.factories import booking

SETTINGS = settings(
    max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)
ids = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60),
    st.sampled_from(["bk-1", "SM1", "bookings:0:1", "notifications:9:99999999", "*", "dr-jenny"]),
)
GETS = ("/bookings/{}", "/api/bookings/{}", "/replies?clinic={}", "/api/replies?clinic={}")
POSTS = (
    "/replies/{}/handled",
    "/bookings/{}/reveal",
    "/replies/{}/reveal",
    "/dead-letters/{}/reveal",
)


@pytest.fixture(scope="module")
def admin() -> Iterator[tuple[TestClient, str]]:
    text = InboxReply(
        "SM1", "dr-jenny", "+447700900123", ReplyKind.MESSAGE, None, "hi", None, None, NOW
    )
    fake = FakeSources(stored=[StoredBooking(booking("bk-1", "p-42"), [])], inbox=[text])
    with tempfile.TemporaryDirectory() as folder:
        client = TestClient(create_app(fake, ManualClock(NOW), make_auth(Path(folder))))
        with client:
            yield client, log_in_client(client, ADMIN)


@SETTINGS
@given(path=st.sampled_from(GETS), value=ids)
def test_any_id_or_query_in_a_page_gets_no_server_error(
    admin: tuple[TestClient, str], path: str, value: str
) -> None:
    client, _ = admin
    answer = client.get(path.format(quote(value, safe="")), follow_redirects=False)
    assert answer.status_code < 500, (path, value, answer.text[:300])


@SETTINGS
@given(
    path=st.sampled_from(POSTS),
    value=ids,
    form=st.dictionaries(st.sampled_from(["csrf_token", "next", "reason", "x"]), ids, max_size=3),
    keep_token=st.booleans(),
)
def test_any_form_to_any_id_gets_no_server_error(
    admin: tuple[TestClient, str], path: str, value: str, form: dict[str, str], keep_token: bool
) -> None:
    client, token = admin
    if keep_token:
        form = {**form, "csrf_token": token}
    answer = client.post(
        path.format(quote(value, safe="")),
        data=form,
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    assert answer.status_code < 500, (path, value, form, answer.text[:300])
