"""Who may do what on Kafka: the services' users and each clinic's, as SCRAM users and ACLs.

A clinic that produces to Kafka directly logs in as ``clinic-{clinic_id}`` and
may write one topic, its own ingress topic (:meth:`Topics.ingress`), and
nothing else: not read it back, not see or write any other topic, not join a
group. The booking service relays what it writes to the bookings topic with the
clinic forced to the one the topic belongs to (``services/booking/sources/ingress.py``).
The services (``booking``, ``reminders``, ``notifier``, ``ops``) may use every
topic and group of the platform's (names starting ``{prefix}clinic``), which
no clinic's user can. With ``allow.everyone.if.no.acl.found=false`` on the
brokers, anyone else may do nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    KafkaAdminClient,
    ResourcePattern,
    ResourceType,
    ScramMechanism,
    UserScramCredentialUpsertion,
)
from kafka.errors import KafkaError

from services.shared.kafka_access import KafkaAccess
from services.shared.topics import Topics

SERVICE_USERS = ("booking", "reminders", "notifier", "ops")
"""One Kafka user per service, each with its own password (docker-compose.yml)."""
CLUSTER = "kafka-cluster"


@dataclass(frozen=True)
class Grant:
    """One ACL: ``user`` may do ``operation`` on the ``kind`` named ``name`` (or prefixed)."""

    user: str
    operation: ACLOperation
    kind: ResourceType
    name: str
    prefixed: bool = False

    def acl(self) -> ACL:
        pattern = (
            ACLResourcePatternType.PREFIXED if self.prefixed else ACLResourcePatternType.LITERAL
        )
        return ACL(
            f"User:{self.user}",
            "*",
            self.operation,
            ACLPermissionType.ALLOW,
            ResourcePattern(self.kind, self.name, pattern),
        )


def clinic_user(clinic_id: str) -> str:
    """The Kafka user a clinic logs in as."""
    return f"clinic-{clinic_id}"


def clinic_grants(clinic_id: str, topics: Topics) -> list[Grant]:
    """Write (and see) its own ingress topic; ``ValueError`` for an id no topic can carry."""
    topic = topics.ingress(clinic_id)
    user = clinic_user(clinic_id)
    return [
        Grant(user, ACLOperation.WRITE, ResourceType.TOPIC, topic),
        Grant(user, ACLOperation.DESCRIBE, ResourceType.TOPIC, topic),
    ]


def service_grants(user: str, topics: Topics) -> list[Grant]:
    """Every topic and group of the platform's (the worker's changelogs among them), and
    the cluster-wide rights a producer and the topic creation at start need."""
    ours = f"{topics.prefix}clinic"
    # The services' groups are named "clinic-..." whatever the prefix; the worker's is its
    # app id, which carries the prefix.
    groups = [Grant(user, ACLOperation.ALL, ResourceType.GROUP, g, prefixed=True)
              for g in dict.fromkeys(["clinic", ours])]  # fmt: skip
    return [
        Grant(user, ACLOperation.ALL, ResourceType.TOPIC, ours, prefixed=True),
        *groups,
        Grant(user, ACLOperation.DESCRIBE, ResourceType.CLUSTER, CLUSTER),
        Grant(user, ACLOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, CLUSTER),
    ]


def apply(admin_access: KafkaAccess, passwords: dict[str, str], grants: list[Grant]) -> None:
    """Sets each user's SCRAM password and adds the ACLs (adding one again changes nothing).

    Blocks for a few admin requests; ``RuntimeError`` naming what the brokers refused, or
    saying that they do not keep users and ACLs at all.
    """
    try:
        _apply(admin_access, passwords, grants)
    except (KafkaError, OSError) as exc:
        raise RuntimeError(
            f"Kafka at {admin_access.bootstrap} did not take the users and ACLs ({exc}): grants "
            "need Apache Kafka with SCRAM logins and an authorizer (docs/deploy.md)"
        ) from exc


def _apply(admin_access: KafkaAccess, passwords: dict[str, str], grants: list[Grant]) -> None:
    admin = KafkaAdminClient(
        **admin_access.client_options(), client_id="clinic-grants", request_timeout_ms=10_000
    )
    try:
        mechanism = ScramMechanism[admin_access.mechanism.replace("-", "_")]
        if passwords:
            upserts = [UserScramCredentialUpsertion(u, mechanism, p) for u, p in passwords.items()]
            refused = {u: e for u, e in admin.alter_user_scram_credentials(upserts).items() if e}
            if refused:
                raise RuntimeError(f"Kafka refused the users' passwords: {refused}")
        answer = admin.create_acls([grant.acl() for grant in grants])
        if answer.get("failed"):
            raise RuntimeError(f"Kafka refused ACLs: {answer['failed']}")
    finally:
        admin.close()
