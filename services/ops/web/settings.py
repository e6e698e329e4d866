"""The ops page's settings: where it listens and who may log in, on top of where the ops
tools read."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from services.ops.settings import OpsSettings
from services.shared.safe_start import example_values, short_token

USERS_FILE = "ops-users.yaml"
PASSWORD_FILE = "ops-password"
AUDIT_FILE = "ops-audit.jsonl"


class OpsWebSettings(OpsSettings):
    """``CLINIC_OPS_*`` plus every ``CLINIC_*`` the ops tools read."""

    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=8090, ge=0, le=65535)
    ops_users_file: Path | None = None
    """Users and roles (``ops user add``). Unset: ``{var_dir}/ops-users.yaml``, made on the
    first start with an ``admin`` whose random password is in ``{var_dir}/ops-password``.
    Set, the file must exist."""
    ops_audit_file: Path | None = None
    """Unset: ``{var_dir}/ops-audit.jsonl``."""
    ops_cookie_secure: bool | None = None
    """Secure cookies: unset, when the request came over https (set true behind a TLS proxy)."""
    ops_cookie_samesite: Literal["strict", "lax"] = "strict"
    ops_session_idle_minutes: float = Field(default=30, gt=0)
    ops_session_max_hours: float = Field(default=12, gt=0)
    ops_login_max_failures: int = Field(default=5, ge=1)
    ops_login_lockout_minutes: float = Field(default=15, gt=0)
    """Failed logins from one address are counted over this window; past the maximum, refused."""
    ops_login_failure_delay_seconds: float = Field(default=1.0, ge=0, le=10)
    ops_api_token: SecretStr | None = None
    """A bearer token that lets scripts read ``GET /api/...`` as a viewer; unset: none does."""

    def refusals(self) -> list[str]:
        found = super().refusals() + short_token("CLINIC_OPS_API_TOKEN", self.ops_api_token)
        return found + example_values({"CLINIC_OPS_API_TOKEN": self.ops_api_token})

    @property
    def users_path(self) -> Path:
        return self.ops_users_file or self.var_dir / USERS_FILE

    @property
    def audit_path(self) -> Path:
        return self.ops_audit_file or self.var_dir / AUDIT_FILE

    @property
    def password_path(self) -> Path:
        return self.var_dir / PASSWORD_FILE
