"""The ops page's settings: where it listens, on top of where the ops tools read."""

from __future__ import annotations

from pydantic import Field

from services.ops.settings import OpsSettings


class OpsWebSettings(OpsSettings):
    """``CLINIC_OPS_HOST`` and ``CLINIC_OPS_PORT`` plus every ``CLINIC_*`` the ops tools read."""

    ops_host: str = "127.0.0.1"
    ops_port: int = Field(default=8090, ge=0, le=65535)
