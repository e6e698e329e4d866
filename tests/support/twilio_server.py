"""A local Twilio-compatible HTTP server: records each message request, answers as told.

By default it accepts (201 with a message resource, as Twilio does). Queue
other answers with :meth:`TwilioServer.answer_next`: 429 with Retry-After,
500, or 400 with a Twilio error code (21211 invalid number, 21610 unsubscribed);
:meth:`TwilioServer.down` answers everything alike (503) until :meth:`TwilioServer.up`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
ERRORS = {
    21211: "The 'To' number is not a valid phone number.",
    21610: "Attempt to send to unsubscribed recipient",
}


@dataclass(frozen=True)
class Answer:
    status: int
    code: int | None = None
    retry_after: float | None = None
    delay: float = 0.0


@dataclass
class Recorded:
    """One request as the server saw it."""

    account_sid: str
    form: dict[str, str]
    username: str
    password: str


@dataclass
class _State:
    usual: Answer = Answer(201)
    answers: list[Answer] = field(default_factory=list)
    outage: Answer | None = None
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # a notifier opens a connection per message in flight at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client killed mid-request (the fault run's notifier) is no server error."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class TwilioServer:
    """Runs on a free 127.0.0.1 port in a thread; ``base_url`` is what the client needs."""

    def __init__(self, delay: float = 0.0) -> None:
        """``delay``: seconds every accepted message takes to be answered (Twilio's own
        latency, tens to hundreds of milliseconds)."""
        self._state = _State(usual=Answer(201, delay=delay))
        self._server = _Server(("127.0.0.1", 0), _handler(self._state))
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[Recorded]:
        with self._state.lock:
            return list(self._state.requests)

    def answer_next(self, *answers: Answer) -> None:
        with self._state.lock:
            self._state.answers.extend(answers)

    def down(self, answer: Answer = Answer(503)) -> None:
        """Answer every request with ``answer`` until :meth:`up` (an outage)."""
        with self._state.lock:
            self._state.outage = answer

    def up(self) -> None:
        with self._state.lock:
            self._state.outage = None

    def __enter__(self) -> TwilioServer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler(state: _State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Twilio's API: one connection, many messages
        disable_nagle_algorithm = True  # headers and body leave at once, not 40 ms apart

        def do_POST(self) -> None:
            match = MESSAGES.match(self.path)
            if match is None:
                self._reply(404, {"code": 20404, "message": "not found", "status": 404})
                return
            length = int(self.headers.get("Content-Length", "0"))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            user, _, password = (
                base64.b64decode(self.headers.get("Authorization", "Basic ")[6:])
                .decode()
                .partition(":")
            )
            with state.lock:
                state.requests.append(Recorded(match["sid"], form, user, password))
                answer = state.outage or (state.answers.pop(0) if state.answers else state.usual)
            time.sleep(answer.delay)
            self._answer(answer, match["sid"], form)

        def _answer(self, answer: Answer, sid: str, form: dict[str, str]) -> None:
            if answer.status == 201:
                self._reply(201, _message(sid, form))
            elif answer.status == 429:
                self._reply(
                    429,
                    {"code": 20429, "message": "Too Many Requests", "status": 429},
                    {"Retry-After": str(answer.retry_after or 1)},
                )
            else:
                code = answer.code or answer.status
                self._reply(
                    answer.status,
                    {
                        "code": code,
                        "status": answer.status,
                        "message": ERRORS.get(code, "Internal error"),
                        "more_info": f"https://www.twilio.com/docs/errors/{code}",
                    },
                )

        def _reply(
            self, status: int, body: dict[str, object], headers: dict[str, str] | None = None
        ) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            # A client that gave up waiting is the point of a delayed answer.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(raw)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _message(account_sid: str, form: dict[str, str]) -> dict[str, object]:
    return {
        "sid": "SM" + uuid.uuid4().hex,
        "account_sid": account_sid,
        "to": form.get("To"),
        "from": form.get("From"),
        "messaging_service_sid": form.get("MessagingServiceSid"),
        "body": form.get("Body"),
        "status": "queued",
        "num_segments": "1",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
    }
