"""``python -m services.ops.web``: serve the ops page until stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import logging

import uvicorn

from services.ops.web.app import create_app
from services.ops.web.auth.setup import auth_from, first_admin
from services.ops.web.auth.users import UsersFileError
from services.ops.web.settings import OpsWebSettings
from services.ops.web.sources import LiveSources
from services.shared.clock import ScaledClock
from services.shared.logs import configure_logging
from services.shared.settings import load_settings


def main() -> None:
    configure_logging("ops.web", logging.WARNING)
    for said in ("ops.audit", "ops.web.auth"):  # who logged in and what was revealed
        logging.getLogger(said).setLevel(logging.INFO)
    settings = load_settings(OpsWebSettings)
    clock = ScaledClock.from_environment()
    made = first_admin(settings)
    try:
        auth = auth_from(settings)
    except UsersFileError as exc:
        raise SystemExit(f"configuration error: CLINIC_OPS_USERS_FILE: {exc}") from exc
    app = create_app(LiveSources(settings, clock), clock, auth)
    where = f"http://{settings.ops_host}:{settings.ops_port}/"
    if made is not None:
        print(
            f"ops page on {where}: first start, log in as admin with the password in {made}",
            flush=True,
        )
    else:
        print(f"ops page on {where} (users in {settings.users_path})", flush=True)
    uvicorn.run(
        app,
        host=settings.ops_host,
        port=settings.ops_port,
        log_level="warning",
        log_config=None,  # through the masking handler, as every service
    )


if __name__ == "__main__":
    main()
