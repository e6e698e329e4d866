"""The console's door built from its settings, and the embedded default's first admin."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from services.ops.audit import AuditLog
from services.ops.web.auth.guard import Auth, CookiePolicy
from services.ops.web.auth.passwords import hash_password
from services.ops.web.auth.sessions import Sessions
from services.ops.web.auth.throttle import LoginThrottle
from services.ops.web.auth.users import Role, User, UsersFile, UsersFileError, write_users
from services.ops.web.settings import OpsWebSettings

FIRST_ADMIN = "admin"


def auth_from(settings: OpsWebSettings) -> Auth:
    """Raises ``UsersFileError`` when the users file is missing or wrong."""
    path = settings.users_path
    if not path.exists():
        raise UsersFileError(
            f"{path} does not exist: add a user with "
            "`clinic-reminders ops user add NAME --role admin`"
        )
    lifetime = settings.ops_session_max_hours * 3600
    token = settings.ops_api_token.get_secret_value() if settings.ops_api_token else None
    return Auth(
        users=UsersFile(path),
        sessions=Sessions(settings.ops_session_idle_minutes * 60, lifetime),
        throttle=LoginThrottle(
            settings.ops_login_max_failures, settings.ops_login_lockout_minutes * 60
        ),
        audit=AuditLog(settings.audit_path),
        cookies=CookiePolicy(
            settings.ops_cookie_secure, settings.ops_cookie_samesite, int(lifetime)
        ),
        failure_delay=settings.ops_login_failure_delay_seconds,
        api_token=token,
    )


def first_admin(settings: OpsWebSettings) -> Path | None:
    """On the embedded default's first start (no ``CLINIC_OPS_USERS_FILE``, no users file
    under ``var_dir``): an ``admin`` with a random password, written to
    ``{var_dir}/ops-password`` (mode 600). Returns that file's path; None when users exist
    or the file was named (a named file must exist: no one is made up for it).
    """
    if settings.ops_users_file is not None or settings.users_path.exists():
        return None
    password = secrets.token_urlsafe(18)
    keep = settings.password_path
    keep.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(password + "\n")
    os.chmod(keep, 0o600)  # a file left from before keeps its old mode through O_CREAT
    user = User(FIRST_ADMIN, Role.ADMIN, hash_password(password))
    write_users(settings.users_path, {user.name: user})
    return keep
