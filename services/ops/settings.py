"""What the ops tools read: the platform's settings plus where each service keeps its state."""

from __future__ import annotations

from pydantic import Field, SecretStr

from services.shared.safe_start import example_values
from services.shared.settings import PlatformSettings
from services.shared.web_token import read_token, token_path

NOTIFIER_GROUP = "clinic-notifier"
REMINDERS_APP = "clinic-reminders"


class OpsSettings(PlatformSettings):
    """``CLINIC_*`` variables, the same names the services themselves read."""

    consumer_group: str = NOTIFIER_GROUP
    """The notifier's consumer group."""
    notifier_database_url: str | None = None
    booking_database_url: str | None = None
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    worker_web_host: str = "127.0.0.1"
    """One reminders worker's views; every other worker is found on the workers topic."""
    worker_web_token: SecretStr | None = None
    """The worker views' token; unset: the one the worker keeps under ``var_dir``, if any."""

    def refusals(self) -> list[str]:
        return super().refusals() + example_values(
            {"CLINIC_WORKER_WEB_TOKEN": self.worker_web_token}
        )

    @property
    def reminders_group(self) -> str:
        """The worker's Faust app id, which is its consumer group."""
        return f"{self.topic_prefix}{REMINDERS_APP}"

    @property
    def ledger_url(self) -> str:
        return self.notifier_database_url or self.sqlite_url("notifier.db")

    @property
    def booking_url(self) -> str:
        return self.booking_database_url or self.sqlite_url("booking.db")

    @property
    def worker_token(self) -> str | None:
        """Read when asked, so a console started before the worker still finds its token."""
        if self.worker_web_token is not None:
            return self.worker_web_token.get_secret_value()
        return read_token(token_path(self.var_dir))

    @property
    def worker_web_url(self) -> str:
        """The configured worker's views (``http://host:port``), asked besides those registered."""
        return f"http://{self.worker_web_host}:{self.worker_web_port}"
