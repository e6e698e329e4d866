"""The booking service's settings: one frozen class, read once at start."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from services.booking.privacy.retention import BookingRetention
from services.shared.outbound import refusal
from services.shared.safe_start import (
    MIN_KEY_CHARACTERS,
    example_values,
    on_loopback,
    short_keys,
)
from services.shared.settings import PlatformSettings

DEFAULT_TREATMENTS = frozenset({"microsclerotherapy"})


class CalendarFeedSettings(BaseModel):
    """One calendar feed the booking service follows
    (see :mod:`services.booking.sources.calendar.sync`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clinic_id: str = Field(min_length=1)
    url: str = Field(min_length=1, description="an https or webcal URL, or a file path")
    mapping: Path | None = None
    """The clinic's calendar mapping file; the documented defaults when None."""
    name: str | None = Field(default=None, min_length=1, max_length=64)
    """Names the feed's state; defaults to a digest of ``url``."""

    @field_validator("url")
    @classmethod
    def _https_only(cls, url: str) -> str:
        """A feed address carries its own secret: never over plain http across a network."""
        if "://" in url and not url.startswith("file://") and (why := refusal(url)):
            raise ValueError(why)
        return url


class FhirServerSettings(BaseModel):
    """One clinic's FHIR R4 server the booking service follows
    (see :mod:`services.booking.sources.fhir.sync`); the ``fhir sync`` options, by name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clinic_id: str = Field(min_length=1)
    base_url: str = Field(min_length=1, description="the server's FHIR R4 base URL (https)")
    treatment: str | None = None
    """The treatment (``TREATMENT`` or ``TREATMENT/KIND``) when no ``map`` entry matches."""
    map: dict[str, str] = Field(default_factory=dict)
    """A coding (``SYSTEM|CODE``, ``CODE`` or text) to our ``TREATMENT[/KIND]``."""
    timezone: str = "Europe/London"
    consent: str = "sms,email"
    """The channels the clinic's patients agreed to when booking, or ``none``."""
    token_file: Path | None = None
    """A static bearer token, or else OAuth2 client credentials: ``token_url``, ``client_id``
    and either ``private_key_file`` (SMART Backend Services: an RSA or EC P-384 key in
    PEM, its public half registered as ``key_id``) or ``client_secret_file``."""
    token_url: str | None = None
    client_id: str | None = None
    private_key_file: Path | None = None
    key_id: str | None = None
    client_secret_file: Path | None = None

    @field_validator("base_url", "token_url")
    @classmethod
    def _https_only(cls, url: str | None) -> str | None:
        """A server's address carries the clinic's token: never plain http across a network."""
        if url is not None and (why := refusal(url)):
            raise ValueError(why)
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(f"{url!r}: a FHIR server is reached over https")
        return url

    @model_validator(mode="after")
    def _one_login(self) -> FhirServerSettings:
        proofs = [p for p in (self.private_key_file, self.client_secret_file) if p is not None]
        oauth = (self.token_url, self.client_id, *proofs)
        if self.token_file is not None and any(oauth):
            raise ValueError("give token_file or the OAuth2 client's settings, not both")
        if len(proofs) > 1:
            raise ValueError("give private_key_file or client_secret_file, not both")
        if self.private_key_file is not None and not self.key_id:
            raise ValueError(
                "private_key_file needs key_id: the kid SMART servers look the key up by"
            )
        if any(oauth) and not (self.token_url and self.client_id and proofs):
            raise ValueError(
                "OAuth2 needs token_url, client_id and private_key_file (or client_secret_file)"
            )
        return self


class BookingSettings(PlatformSettings):
    """``CLINIC_BOOKING_*`` variables on top of the platform's own.

    ``booking_api_keys`` maps a clinic id to its API key (JSON in the variable,
    e.g. ``{"dr-jenny": "<32+ characters>"}``). Left empty, the API is open: any
    caller may act for any clinic, which suits the embedded demo on loopback only;
    the service refuses to start so beyond loopback (:meth:`refusals`).
    """

    booking_host: str = "127.0.0.1"
    booking_port: int = Field(default=8080, ge=0, le=65535)
    booking_database_url: str = ""
    booking_treatments: frozenset[str] = DEFAULT_TREATMENTS
    booking_api_keys: dict[str, SecretStr] = Field(default_factory=dict)
    booking_webhook_dir: Path | None = None
    """Folder of per-clinic webhook mappings, ``<clinic_id>.yaml``."""
    booking_calendar_feeds: tuple[CalendarFeedSettings, ...] = ()
    """Calendar feeds to follow, JSON in the variable, e.g.
    ``[{"clinic_id": "dr-jenny", "url": "https://...ics", "mapping": "dr-jenny.yaml"}]``."""
    booking_calendar_poll_seconds: float = Field(default=300.0, gt=0, le=86_400)
    booking_fhir_servers: tuple[FhirServerSettings, ...] = ()
    """Clinics' FHIR R4 servers to follow, JSON in the variable, e.g. ``[{"clinic_id":
    "lakeside", "base_url": "https://ehr.example.org/fhir/R4", "treatment":
    "microsclerotherapy", "token_file": "/run/secrets/fhir-token"}]``."""
    booking_fhir_poll_seconds: float = Field(default=60.0, gt=0, le=86_400)
    relay_poll_seconds: float = Field(default=0.2, gt=0, le=60)
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    relay_max_backoff_seconds: float = Field(default=5.0, gt=0, le=300)
    booking_start_past_hours: float = Field(default=24, ge=0, le=24 * 31)
    """How far in the past a new appointment may start (this morning's, from an export)."""
    booking_start_future_days: float = Field(default=730, gt=0, le=3650)
    """How far ahead an appointment may start."""
    booking_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024**2)
    """Requests with a bigger body get 413."""
    booking_replies_group: str = "clinic-booking-replies"
    """The consumer group that records patients' confirmations from ``clinic.replies.v1``."""
    booking_ingress_group: str = "clinic-booking-ingress"
    """The consumer group that relays clinics' ingress topics (``clinic.ingress.*.v1``)."""
    booking_callback_poll_seconds: float = Field(default=1.0, gt=0, le=300)
    """How often queued clinic callbacks are looked for (each clinic's ``callback_url``)."""
    retention_outbox_days: int = Field(default=7, ge=1, le=365)
    """Published outbox rows (copies of events already on the broker)."""
    retention_idempotency_days: int = Field(default=30, ge=1, le=365)
    """Idempotency keys: how long a client's retry with the same key gets the first answer."""
    retention_callbacks_days: int = Field(default=30, ge=1, le=365)
    """Clinic callbacks already sent or refused."""

    @property
    def retention(self) -> BookingRetention:
        return BookingRetention(
            self.retention_finished_days,
            self.retention_cancelled_days,
            self.retention_outbox_days,
            self.retention_idempotency_days,
            self.retention_callbacks_days,
        )

    def refusals(self) -> list[str]:
        found = super().refusals()
        if not self.booking_api_keys and not on_loopback(self.booking_host):
            found.append(
                f"CLINIC_BOOKING_API_KEYS is empty while the booking API listens on "
                f"{self.booking_host}: anyone who reaches it would act for every clinic; "
                f"set a key of {MIN_KEY_CHARACTERS}+ characters per clinic (docs/deploy.md)"
            )
        found += short_keys("CLINIC_BOOKING_API_KEYS", self.booking_api_keys)
        found += example_values(
            {f"CLINIC_BOOKING_API_KEYS[{c}]": k for c, k in self.booking_api_keys.items()}
        )
        return found

    booking_session_timeout_ms: int = Field(default=10_000, ge=1_000, le=300_000)
    broker_memory_check_seconds: float = Field(default=10.0, gt=0, le=3600)
    """How often the relay checks that the broker still remembers the bookings."""

    @model_validator(mode="after")
    def _default_database(self) -> BookingSettings:
        if not self.booking_database_url:
            self.var_dir.mkdir(parents=True, exist_ok=True)
            object.__setattr__(self, "booking_database_url", self.sqlite_url("booking.db"))
        return self

    @property
    def database_url(self) -> str:
        return self.booking_database_url
