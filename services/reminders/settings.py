"""Settings of the reminders worker, read once at start."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from services.shared.safe_start import example_values, short_token
from services.shared.settings import PlatformSettings
from services.shared.web_token import read_or_create_token, token_path


class ReminderSettings(PlatformSettings):
    """``CLINIC_*`` variables of the reminders worker."""

    worker_id: str = "1"
    worker_web_host: str = "127.0.0.1"
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    worker_web_url: str | None = None
    """Where the ops tools reach this worker's views, as it registers on the workers topic
    (``services/shared/workers.py``); unset: ``http://{worker_web_host}:{worker_web_port}``,
    with the machine's host name when the views listen on every address."""
    worker_web_token: SecretStr | None = None
    """What ``/reminders/...`` views ask for (``Authorization: Bearer ...``); unset: a random
    one kept in ``{var_dir}/worker-web.token`` (see ``services/shared/web_token.py``)."""
    worker_store: Literal["rocksdb", "memory"] = "rocksdb"
    tick_interval_seconds: float = Field(default=0.2, gt=0, le=10)
    bucket_seconds: int = Field(default=60, ge=1, le=3600)
    max_lateness_days: float = Field(default=7, gt=0)
    """A reminder with no staleness rule of its own is skipped once this late."""
    due_window_hours: float = Field(default=24, ge=1)
    """How far ahead the worker's memory lists what falls due; reminders due later wait
    on disk alone, and are listed as time brings them within it (docs/architecture.md)."""
    session_timeout_seconds: float = Field(default=6.0, ge=1)

    def refusals(self) -> list[str]:
        found = super().refusals() + short_token("CLINIC_WORKER_WEB_TOKEN", self.worker_web_token)
        return found + example_values({"CLINIC_WORKER_WEB_TOKEN": self.worker_web_token})

    @property
    def app_id(self) -> str:
        return f"{self.topic_prefix}clinic-reminders"

    @property
    def web_token(self) -> str:
        """The views' token: the setting, else the one kept under ``var_dir`` (made if none)."""
        if self.worker_web_token is not None:
            return self.worker_web_token.get_secret_value()
        return read_or_create_token(token_path(self.var_dir))

    @property
    def web_url(self) -> str:
        """The views' address for others: the setting, else made from host and port."""
        if self.worker_web_url:
            return self.worker_web_url.rstrip("/")
        host = self.worker_web_host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.worker_web_port}"

    @property
    def data_dir(self) -> Path:
        return self.var_dir / "reminders" / f"worker-{self.worker_id}"
