"""The reminders worker's ops views on loopback, answering from a real scheduler's table.

The bodies come from the worker's own scheduler (rebuilt from the table, as a
worker does when it takes its partitions), ``stats_of`` and ``describe``, as
its Faust views build them, masked and behind the token as the worker's are; only the
web framework around them is not Faust. It holds the one partition there is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from services.reminders.planning.engine import ClinicPolicy
from services.reminders.planning.protocol import ProtocolRegistry
from services.reminders.schedule.schedule import Scheduler
from services.reminders.schedule.state import PatientState
from services.reminders.schedule.stats import describe
from services.reminders.worker.membership import Member
from services.reminders.worker.views import stats_of
from services.shared.fields import mask_record
from services.shared.web_token import bearer_matches

TOKEN = "worker-views-token-for-tests"


@contextmanager
def worker_views(patients: MutableMapping[str, Any], now: datetime) -> Iterator[int]:
    """Serve ``/reminders/stats`` and ``/reminders/bookings/{id}`` to whoever has
    :data:`TOKEN`; yields the port."""

    scheduler = Scheduler(patients, ProtocolRegistry.builtin(), lambda _: ClinicPolicy())
    scheduler.rebuild([0])
    member = Member("1", "http://127.0.0.1", partitions=1)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if not bearer_matches(self.headers.get("Authorization"), TOKEN):
                self._json(401, {"error": "this view needs the worker's token"})
                return
            states = [PatientState.from_value(v) for v in patients.values()]
            prefix = "/reminders/bookings/"
            if self.path == "/reminders/stats":
                self._json(200, stats_of(scheduler, now, [0], member))
            elif self.path.startswith(prefix):
                wanted = unquote(urlsplit(self.path).path[len(prefix) :])
                held = [s for s in states if wanted in s.bookings]
                body = mask_record(describe(held[0], wanted)) if held else {"error": "none"}
                self._json(200 if held else 404, {**body, **member.part([0])})
            else:
                self._json(404, {"error": "no such view"})

        def _json(self, code: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
