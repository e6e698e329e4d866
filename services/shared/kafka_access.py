"""How a service reaches Kafka: the brokers' addresses and, in production, who it is.

On the embedded broker and a local Apache Kafka the address is all there is
(``PLAINTEXT``). Where clinics produce to Kafka directly, every client logs in
with SASL/SCRAM (``SASL_PLAINTEXT`` on a private network, ``SASL_SSL`` beyond
it) as its own user, and the broker's ACLs (:mod:`services.shared.kafka_grants`)
say what that user may read and write. Every Kafka client the services build
takes its options from here, so no client is left logging in without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

SecurityProtocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
ScramMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512"]


@dataclass(frozen=True)
class KafkaAccess:
    """The brokers (``host:port,...``) and the credentials to use with them."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    mechanism: ScramMechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None

    @property
    def logs_in(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's producers, consumers and admin clients."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.logs_in:
            options |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password.get_secret_value() if self.password else None,
            }
        if self.security_protocol == "SASL_SSL" and self.ca_file is not None:
            options["ssl_cafile"] = str(self.ca_file)
        return options

    def as_user(self, username: str, password: str) -> KafkaAccess:
        """The same brokers, logged in as someone else (a clinic, an administrator)."""
        protocol: SecurityProtocol = self.security_protocol if self.logs_in else "SASL_PLAINTEXT"
        return KafkaAccess(
            self.bootstrap, protocol, self.mechanism, username, SecretStr(password), self.ca_file
        )

    def refusals(self) -> list[str]:
        """Why these settings cannot log in (see :mod:`services.shared.safe_start`)."""
        if not self.logs_in:
            return []
        missing = [
            name
            for name, value in (
                ("CLINIC_KAFKA_USERNAME", self.username),
                ("CLINIC_KAFKA_PASSWORD", self.password and self.password.get_secret_value()),
            )
            if not value
        ]
        return [
            f"{name} is empty, but CLINIC_KAFKA_SECURITY_PROTOCOL={self.security_protocol} "
            "logs in to Kafka with it"
            for name in missing
        ]


def access_of(kafka: KafkaAccess | str) -> KafkaAccess:
    """``kafka`` as :class:`KafkaAccess`; a bare address means no login."""
    return kafka if isinstance(kafka, KafkaAccess) else KafkaAccess(kafka)
