"""The real twilio client against our local Twilio-compatible server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.notifier.exceptions import (
    AmbiguousSendError,
    PermanentSendError,
    RetryableSendError,
)
from services.notifier.senders.twilio_sms import TwilioSmsSender, twilio_client
from tests.support.reminders import reminder
from tests.support.twilio_server import Answer, TwilioServer

pytestmark = pytest.mark.integration
SID = "AC" + "1" * 32


@pytest.fixture
def server() -> Iterator[TwilioServer]:
    with TwilioServer() as running:
        yield running


def sender(server: TwilioServer, timeout: float = 5.0, **options: str) -> TwilioSmsSender:
    client = twilio_client(SID, "secret-token", server.base_url, timeout=timeout)
    if "messaging_service_sid" not in options:
        options["from_number"] = "+447700900999"
    return TwilioSmsSender(client, **options)  # type: ignore[arg-type]


def test_a_text_is_posted_as_twilio_expects(server: TwilioServer) -> None:
    result = sender(server, status_callback="https://clinic.example/twilio/status").send(
        "+447700900123", "Hi Jane", reminder()
    )
    [request] = server.requests
    assert request.account_sid == SID
    assert (request.username, request.password) == (SID, "secret-token")
    assert request.form == {
        "To": "+447700900123",
        "Body": "Hi Jane",
        "From": "+447700900999",
        "StatusCallback": "https://clinic.example/twilio/status",
    }
    assert result.provider_id is not None and result.provider_id.startswith("SM")
    assert result.segments == 1


def test_a_messaging_service_replaces_the_from_number(server: TwilioServer) -> None:
    sender(server, messaging_service_sid="MG" + "2" * 32).send("+447700900123", "Hi", reminder())
    assert server.requests[0].form["MessagingServiceSid"] == "MG" + "2" * 32
    assert "From" not in server.requests[0].form


def test_429_is_retryable_after_twilios_retry_after(server: TwilioServer) -> None:
    server.answer_next(Answer(429, retry_after=7))
    with pytest.raises(RetryableSendError) as caught:
        sender(server).send("+447700900123", "Hi", reminder())
    assert caught.value.retry_after == 7


def test_500_is_retryable(server: TwilioServer) -> None:
    server.answer_next(Answer(500))
    with pytest.raises(RetryableSendError, match="Twilio 500"):
        sender(server).send("+447700900123", "Hi", reminder())


@pytest.mark.parametrize("code", [21211, 21610])
def test_invalid_or_unsubscribed_numbers_are_permanent(server: TwilioServer, code: int) -> None:
    server.answer_next(Answer(400, code=code))
    with pytest.raises(PermanentSendError, match=f"error {code}"):
        sender(server).send("+447700900123", "Hi", reminder())


def test_no_answer_in_time_is_ambiguous_not_retried(server: TwilioServer) -> None:
    server.answer_next(Answer(201, delay=1.0))
    with pytest.raises(AmbiguousSendError):
        sender(server, timeout=0.3).send("+447700900123", "Hi", reminder())


def test_nobody_listening_is_retryable() -> None:
    client = twilio_client(SID, "t", "http://127.0.0.1:9", timeout=1)
    with pytest.raises(RetryableSendError, match="unreachable"):
        TwilioSmsSender(client, from_number="+447700900999").send("+447700900123", "Hi", reminder())


def test_a_proxy_named_in_the_environment_is_used_unless_no_proxy_names_the_host(
    server: TwilioServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nobody listens there
    with pytest.raises(RetryableSendError, match="unreachable"):
        sender(server, timeout=1).send("+447700900123", "Hi", reminder())
    assert not server.requests  # it went to the proxy, not to the server
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    sender(server, timeout=1).send("+447700900123", "Hi", reminder())
    assert len(server.requests) == 1
