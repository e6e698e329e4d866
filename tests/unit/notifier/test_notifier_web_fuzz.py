"""Whatever a careless or hostile caller sends the notifier's webhooks, the answer is not a 5xx.

Property-based, in-process on the real SQLite stores: Twilio's inbound and
status webhooks (signed, so that the handlers behind the signature check are
reached, and unsigned), raw bodies that are not forms or not UTF-8, and the
unsubscribe links with any token.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from services.notifier.patients.unsubscribe import UnsubscribeLinks
from tests.support.notifier_web import TOKEN, Web

FIELDS = ("From", "To", "Body", "MessageSid", "MessageStatus", "ErrorCode", "AccountSid")
SETTINGS = settings(
    max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

texts = st.text(st.characters(exclude_categories=["Cs"]), max_size=80)
near_phones = st.sampled_from(["+447700900123", "+447700900999", "07700 900123", "+1", ""])
values = st.one_of(texts, near_phones, st.sampled_from(["STOP", "C", "R", "START", "HELP"]))
forms = st.dictionaries(st.sampled_from(FIELDS), values, max_size=len(FIELDS))


@pytest.fixture(scope="module")
def web() -> Iterator[Web]:
    with tempfile.TemporaryDirectory() as folder:
        web = Web(Path(folder), links=UnsubscribeLinks(b"k" * 32, "https://notify.example"))
        with web.client:
            yield web
        web.close()


@SETTINGS
@given(form=forms, path=st.sampled_from(["/v1/twilio/inbound", "/v1/twilio/status"]))
def test_a_signed_form_of_any_fields_gets_no_server_error(
    web: Web, form: dict[str, str], path: str
) -> None:
    signature = RequestValidator(TOKEN).compute_signature(f"http://testserver{path}", form)
    answer = web.client.post(
        path,
        content=urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    assert answer.status_code < 500, (form, answer.text)


@SETTINGS
@given(
    body=st.binary(max_size=300),
    path=st.sampled_from(["/v1/twilio/inbound", "/v1/twilio/status", "/v1/unsubscribe/x.y"]),
    kind=st.sampled_from(
        ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain", ""]
    ),
)
def test_any_raw_body_gets_no_server_error(web: Web, body: bytes, path: str, kind: str) -> None:
    answer = web.client.post(path, content=body, headers={"Content-Type": kind})
    assert answer.status_code < 500, (body, answer.text)


@SETTINGS
@given(token=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=120))
def test_any_unsubscribe_token_gets_no_server_error(web: Web, token: str) -> None:
    path = "/v1/unsubscribe/" + quote(token, safe="")
    for answer in (
        web.client.get(path),
        web.client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ):
        assert answer.status_code < 500, (token, answer.text)
