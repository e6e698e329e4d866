"""The notifier's settings: one frozen class, read once at start from ``CLINIC_*``."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from services.notifier.privacy.retention import NotifierRetention
from services.shared.safe_start import example_values, on_loopback
from services.shared.settings import PlatformSettings

MIN_SECRET_CHARACTERS = 16


class NotifierSettings(PlatformSettings):
    """What the notifier needs beyond the platform's shared settings.

    Providers are chosen here: ``local`` writes to ``{var_dir}/outbox`` (the
    embedded default), ``twilio`` and ``smtp`` talk to the real services.

    The HTTP side (``/healthz``, ``/metrics``, Twilio's inbound and status
    webhooks) listens on ``notifier_http_host:notifier_http_port``. Webhooks
    must carry a valid ``X-Twilio-Signature`` made with ``twilio_auth_token``;
    with no token set (the local default) they are accepted unsigned, which the
    notifier allows on loopback only (:meth:`refusals`).
    """

    notifier_database_url: str | None = None
    """Delivery ledger; SQLite under ``var_dir`` when unset."""
    consumer_group: str = "clinic-notifier"
    session_timeout_ms: int = Field(default=10_000, ge=1_000)
    heartbeat_interval_ms: int = Field(default=1_000, ge=100)
    poll_timeout_ms: int = Field(default=200, ge=10)

    sms_provider: Literal["local", "twilio"] = "local"
    email_provider: Literal["local", "smtp"] = "local"

    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_status_callback_url: str | None = None
    twilio_api_base_url: str | None = None
    """Only to point the client at a Twilio-compatible server in tests."""
    twilio_inbound_numbers: dict[str, str] = Field(default_factory=dict)
    """JSON, Twilio number -> clinic id: whose patients a STOP to that number concerns.

    A keyword sent to a number not listed applies to every clinic.
    """
    sms_rate_per_second: float = Field(default=1.0, gt=0)
    sms_burst: int = Field(default=1, ge=1)
    email_rate_per_second: float | None = Field(default=None, gt=0)
    """Emails a second the SMTP relay takes (Microsoft 365 takes 30 a minute: 0.5); unset,
    no limit. Like the SMS rate it holds across every notifier sharing the ledger's
    database, one bucket per relay (host, port and login)."""
    email_burst: int = Field(default=1, ge=1)
    notifier_concurrency: int = Field(default=16, ge=1)
    """Messages of different patients handed to the providers side by side (one
    patient's go in order), and the Twilio connections kept open; 1 hands over one
    at a time. The ledger is written once per step of a batch either way (a step
    is at least this many), so this bounds only the messages in flight: a provider
    answering in 100 ms needs about 64 for 500 a second (docs/benchmarks.md). With
    only the local sinks (the embedded default) messages are handed over one at a
    time whatever this says: a file gains nothing from threads (see
    :attr:`side_by_side`)."""

    notifier_http_host: str = "127.0.0.1"
    notifier_http_port: int = Field(default=8081, ge=0, le=65535)
    """0 picks a free port (the startup line says which)."""
    notifier_public_url: str | None = None
    """The address Twilio calls, e.g. ``https://notify.clinic.example``, when a proxy
    stands in front: signatures are made over that URL, not the one the notifier sees.
    Emails' unsubscribe links point there too (else at the notifier's own HTTP address)."""
    unsubscribe_secret: SecretStr | None = None
    """Signs the unsubscribe link of every email (HMAC-SHA256), at least 16 characters.

    Unset (the local default), each notifier makes a random key of its own in
    ``{var_dir}/unsubscribe.key``; wherever more than one notifier runs, or
    ``var_dir`` is not kept, set one secret for all of them (docs/deploy.md).
    """

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    """Upgrade to TLS; a relay beyond loopback that does not offer it gets no login and no
    message (a retryable failure). False sends in clear, for a relay on a private network."""
    smtp_ca_file: Path | None = None
    """CA certificates to trust for the SMTP server (a clinic's own CA); default: the system's."""
    smtp_from_address: str = "reminders@clinic.example"
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)

    backoff_base_seconds: float = Field(default=0.5, ge=0)
    backoff_max_seconds: float = Field(default=300.0, ge=0)
    """Longest wait between two attempts (platform seconds) unless the provider asks for longer."""
    retry_window_hours: float = Field(default=24.0, gt=0)
    """How long a reminder that never goes stale is retried after it came due.

    A reminder with a ``stale_at`` is retried until then, and one before an
    appointment at latest until the appointment starts; a transient failure is
    retried, with the backoff above, for as long as the message is of use.
    """

    retention_deliveries_days: int = Field(default=90, ge=8, le=3650)
    """Settled deliveries (and the local sinks' lines); more than the week in which a
    rebuilt plan may hand a reminder over again, which the ledger must still know."""
    retention_replies_days: int = Field(default=90, ge=1, le=3650)
    """Patients' replies once marked handled."""
    retention_unread_replies_days: int = Field(default=180, ge=1, le=3650)
    """Patients' replies nobody marked handled."""
    retention_inbound_days: int = Field(default=30, ge=1, le=365)
    """Who sent an inbound text (a keyed hash) and what it was answered; its MessageSid
    is kept for good, so that a replayed webhook changes nothing however late."""

    @property
    def retention(self) -> NotifierRetention:
        return NotifierRetention(
            self.retention_deliveries_days,
            self.retention_replies_days,
            self.retention_unread_replies_days,
            self.retention_inbound_days,
            self.retention_finished_days,
            self.retention_cancelled_days,
        )

    templates_dir: Path | None = None
    """Per-clinic overrides: ``{templates_dir}/{clinic_id}/{locale}/*.j2``."""

    @field_validator("unsubscribe_secret")
    @classmethod
    def _secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARACTERS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARACTERS} characters")
        return value

    def refusals(self) -> list[str]:
        found = super().refusals()
        unsigned = not self.twilio_auth_token.get_secret_value()
        if unsigned and self.sms_provider == "twilio":
            found.append(
                "CLINIC_TWILIO_AUTH_TOKEN is empty with CLINIC_SMS_PROVIDER=twilio: "
                "Twilio would refuse every message and its webhooks could not be checked"
            )
        elif unsigned and not on_loopback(self.notifier_http_host):
            found.append(
                f"CLINIC_TWILIO_AUTH_TOKEN is empty while the notifier listens on "
                f"{self.notifier_http_host}: anyone who reaches it could post unsigned "
                "STOPs and delivery reports"
            )
        return found + example_values(
            {
                "CLINIC_TWILIO_AUTH_TOKEN": self.twilio_auth_token,
                "CLINIC_TWILIO_ACCOUNT_SID": self.twilio_account_sid,
                "CLINIC_TWILIO_MESSAGING_SERVICE_SID": self.twilio_messaging_service_sid,
                "CLINIC_SMTP_PASSWORD": self.smtp_password,
                "CLINIC_UNSUBSCRIBE_SECRET": self.unsubscribe_secret,
            }
        )

    @property
    def side_by_side(self) -> int:
        """Messages handed over at once: :attr:`notifier_concurrency` when a provider is
        reached over the network (Twilio, an SMTP relay), else 1. With the local sinks
        the threads only took turns at one file and one interpreter: one at a time
        delivers about 30% more a second (docs/benchmarks.md)."""
        remote = self.sms_provider != "local" or self.email_provider != "local"
        return self.notifier_concurrency if remote else 1

    @property
    def database_url(self) -> str:
        """The ledger URL; creates ``var_dir`` for the SQLite default."""
        if self.notifier_database_url:
            return self.notifier_database_url
        self.var_dir.mkdir(parents=True, exist_ok=True)
        return self.sqlite_url("notifier.db")

    @property
    def outbox_dir(self) -> Path:
        return self.var_dir / "outbox"
