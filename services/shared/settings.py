"""Settings every service shares; each service extends them with its own frozen class.

Read once at start from the constructor or ``CLINIC_*`` environment variables;
bad configuration stops the process with a message naming the variable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.shared.clinics import DEFAULT_QUIET_HOURS, ClinicDirectory, QuietHours
from services.shared.erasure import ErasureKeys, erasure_keys
from services.shared.kafka_access import KafkaAccess, ScramMechanism, SecurityProtocol
from services.shared.safe_start import example_values
from services.shared.topics import Topics


class PlatformSettings(BaseSettings):
    """Broker, topics and working directory, as ``CLINIC_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix="CLINIC_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    """``SASL_PLAINTEXT`` or ``SASL_SSL`` where Kafka wants each service to log in
    (docker-compose.yml, docs/deploy.md); then the next three are this service's own."""
    kafka_sasl_mechanism: ScramMechanism = "SCRAM-SHA-512"
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    kafka_ca_file: Path | None = None
    """The CA that signed the brokers' certificates, for ``SASL_SSL`` (the system's otherwise)."""
    topic_prefix: str = ""
    partitions: int = Field(default=4, ge=1, le=256)
    var_dir: Path = Path("var")
    on_tansu: bool = True
    """The embedded broker under-reports end offsets; the worker compensates when true."""
    erasure_secret: SecretStr | None = None
    """Keys the hashes an erasure leaves behind (HMAC-SHA256), at least 16 characters.

    Every service must have the same one. Unset (the local default), the first
    service that needs it makes a random key in ``{var_dir}/erasure.key``, which
    every process sharing that folder reads (see :mod:`services.shared.erasure`).
    """

    @field_validator("erasure_secret")
    @classmethod
    def _erasure_secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and 0 < len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value or None

    retention_finished_days: int = Field(default=400, ge=395, le=3650)
    """A booking is forgotten this long after its appointment (docs/privacy.md); at least
    13 months, so that the longest plan (a recall 12 months after a course) plays out."""
    retention_cancelled_days: int = Field(default=30, ge=1, le=3650)
    """A cancelled booking is forgotten this long after its cancel, by every service that
    keeps a copy of it (the booking store, the notifier's bookings seen)."""
    retention_sweep_minutes: float = Field(default=60.0, gt=0, le=24 * 60)
    """How often each service removes what is past its retention."""

    protocols_dir: Path | None = None
    """A clinic's own protocol files; one for a treatment replaces the built-in one
    (services/shared/catalogue.py). The booking service takes their treatments too."""
    clinics_file: Path | None = None
    """YAML, clinic id -> name, phone, quiet hours, attendance, reply words, ...
    (docs/clinics.md); every service reads the same file."""
    default_quiet_hours: str = DEFAULT_QUIET_HOURS
    """For clinics the clinics file does not describe; empty means none."""

    @field_validator("default_quiet_hours")
    @classmethod
    def _quiet_hours_parse(cls, value: str) -> str:
        QuietHours.parse(value)
        return value

    def clinic_directory(self) -> ClinicDirectory:
        """The clinics file read; ValueError or OSError naming what is wrong with it."""
        return ClinicDirectory.from_yaml(
            self.clinics_file, QuietHours.parse(self.default_quiet_hours)
        )

    retention_dead_letters_days: int = Field(default=30, ge=1, le=3650)
    """How long the broker keeps a dead letter (set on the topics when they are created)."""

    @property
    def kafka(self) -> KafkaAccess:
        """The brokers and this service's login to them: what every Kafka client is given."""
        return KafkaAccess(
            self.bootstrap_servers,
            self.kafka_security_protocol,
            self.kafka_sasl_mechanism,
            self.kafka_username,
            self.kafka_password,
            self.kafka_ca_file,
        )

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix, self.retention_dead_letters_days)

    @property
    def erasure_keys(self) -> ErasureKeys:
        """The keyed hashes every service makes of what it erased."""
        return erasure_keys(self.erasure_secret, self.var_dir)

    def sqlite_url(self, name: str) -> str:
        return f"sqlite:///{(self.var_dir / name).resolve()}"

    def refusals(self) -> list[str]:
        """Why this configuration must not start (:mod:`services.shared.safe_start`);
        each service adds its own to these."""
        return self.kafka.refusals() + example_values(
            {
                "CLINIC_ERASURE_SECRET": self.erasure_secret,
                "CLINIC_KAFKA_PASSWORD": self.kafka_password,
            }
        )


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S]) -> S:
    """Build ``cls`` from the environment, or exit 2 naming each bad variable, and each
    unsafe one (``refusing to start: ...``, see :mod:`services.shared.safe_start`)."""
    try:
        settings = cls()
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for err in exc.errors():
            name = prefix + "_".join(str(p) for p in err["loc"]).upper()
            print(f"configuration error: {name}: {err['msg']}", file=sys.stderr)
        raise SystemExit(2) from exc
    refusals = settings.refusals() if isinstance(settings, PlatformSettings) else []
    for refusal in refusals:
        print(f"refusing to start: {refusal}", file=sys.stderr)
    if refusals:
        raise SystemExit(2)
    return settings
