"""``clinic-reminders grants``: Kafka users and ACLs for the services and for each clinic.

Run by the Kafka administrator, logged in as Kafka's super user through the
usual ``CLINIC_KAFKA_*`` settings (docs/deploy.md):

    clinic-reminders grants services           # the four services, passwords from the env
    clinic-reminders grants clinic dr-jenny    # its ingress topic, user and password

Both can be run again: a password is set anew, an ACL already there stays once.
"""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path
from typing import Any

from services.shared.kafka_grants import (
    SERVICE_USERS,
    Grant,
    apply,
    clinic_grants,
    clinic_user,
    service_grants,
)
from services.shared.settings import PlatformSettings, load_settings
from services.shared.topics import ensure_topics

MIN_PASSWORD = 16


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("grants", help="Kafka users and ACLs (SASL/SCRAM)")
    which = parser.add_subparsers(dest="grants", required=True)
    services = which.add_parser(
        "services", help="the services' users, from CLINIC_KAFKA_{BOOKING,...}_PASSWORD"
    )
    services.set_defaults(func=run_services)
    clinic = which.add_parser("clinic", help="a clinic's ingress topic, user and ACLs")
    clinic.add_argument("clinic_id")
    clinic.add_argument(
        "--password-file", type=Path, help="its password (default: a new one, printed once)"
    )
    clinic.set_defaults(func=run_clinic)


def service_passwords(environ: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Each service's password from ``CLINIC_KAFKA_<SERVICE>_PASSWORD``, and what is wrong."""
    found: dict[str, str] = {}
    problems: list[str] = []
    for user in SERVICE_USERS:
        name = f"CLINIC_KAFKA_{user.upper()}_PASSWORD"
        value = environ.get(name, "")
        if len(value) < MIN_PASSWORD:
            problems.append(f"{name} must be set, at least {MIN_PASSWORD} characters")
        found[user] = value
    return found, problems


def logged_in(settings: PlatformSettings) -> bool:
    """Grants are made as Kafka's administrator: say so when no login is set."""
    if settings.kafka.logs_in:
        return True
    print(
        "grants: log in as Kafka's administrator: CLINIC_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT "
        "(or SASL_SSL), CLINIC_KAFKA_USERNAME and CLINIC_KAFKA_PASSWORD (docs/deploy.md)"
    )
    return False


def run_services(args: argparse.Namespace) -> int:
    settings = load_settings(PlatformSettings)
    if not logged_in(settings):
        return 2
    passwords, problems = service_passwords(dict(os.environ))
    for problem in problems:
        print(f"grants: {problem}")
    if problems:
        return 2
    grants = [g for user in SERVICE_USERS for g in service_grants(user, settings.topics)]
    return _apply(settings, passwords, grants, f"users {', '.join(SERVICE_USERS)}")


def run_clinic(args: argparse.Namespace) -> int:
    settings = load_settings(PlatformSettings)
    if not logged_in(settings):
        return 2
    try:
        grants = clinic_grants(args.clinic_id, settings.topics)
    except ValueError as exc:
        print(f"grants: {exc}")
        return 2
    made = args.password_file is None
    password = secrets.token_urlsafe(24) if made else args.password_file.read_text().strip()
    if len(password) < MIN_PASSWORD:
        print(f"grants: the password in {args.password_file} is under {MIN_PASSWORD} characters")
        return 2
    topic = settings.topics.ingress(args.clinic_id)
    try:
        ensure_topics(settings.kafka, [topic], settings.partitions, timeout=10.0)
    except RuntimeError as exc:
        print(f"grants: {exc}")
        return 1
    user = clinic_user(args.clinic_id)
    code = _apply(settings, {user: password}, grants, f"user {user}, who may write {topic} only")
    if code == 0 and made:
        print(f"password of {user} (shown once; give it to the clinic): {password}")
    return code


def _apply(
    settings: PlatformSettings, passwords: dict[str, str], grants: list[Grant], what: str
) -> int:
    try:
        apply(settings.kafka, passwords, grants)
    except RuntimeError as exc:
        print(f"grants: {exc}")
        return 1
    print(f"granted: {what}")
    return 0
