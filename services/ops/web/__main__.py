"""``python -m services.ops.web``: serve the ops page until stopped (Ctrl-C or SIGTERM)."""

from __future__ import annotations

import logging

import uvicorn

from services.ops.logs import configure_logging
from services.ops.web.app import create_app
from services.ops.web.settings import OpsWebSettings
from services.ops.web.sources import LiveSources
from services.shared.clock import ScaledClock
from services.shared.settings import load_settings


def main() -> None:
    configure_logging("ops.web", logging.WARNING)
    settings = load_settings(OpsWebSettings)
    clock = ScaledClock.from_environment()
    app = create_app(LiveSources(settings, clock), clock)
    print(f"ops page on http://{settings.ops_host}:{settings.ops_port}/", flush=True)
    uvicorn.run(
        app,
        host=settings.ops_host,
        port=settings.ops_port,
        log_level="warning",
        log_config=None,  # through the masking handler, as every service
    )


if __name__ == "__main__":
    main()
