"""The ops audit trail: who did what to which record, one JSON line each, appended.

An entry names the user, the action and the record by its id (a booking id, a
reply's MessageSid, a dead letter's queue:partition:offset), never what the
record holds: no phone, email, name or text of a patient. Each entry is also
a log line (``ops.audit``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("ops.audit")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditLog:
    """Appends to ``path`` (created with mode 600); each entry is on disk when it returns."""

    def __init__(self, path: Path, now: Callable[[], datetime] = _utc_now) -> None:
        self.path = path
        self._now = now
        self._lock = threading.Lock()

    def record(self, user: str, action: str, target: str = "") -> dict[str, Any]:
        """Write one entry: ``user`` did ``action`` (reveal, login, ...) to ``target``."""
        entry = {"at": self._now().isoformat(), "user": user, "action": action}
        if target:
            entry["record"] = target
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
        log.info("audit: %s %s%s", user, action, f" {target}" if target else "")
        return entry

    def entries(self) -> list[dict[str, Any]]:
        """Every entry so far, oldest first (for tests and for a person reading the trail)."""
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]
