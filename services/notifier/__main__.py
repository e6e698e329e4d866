"""``python -m services.notifier``: run the notifier in the foreground until SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

from services.notifier.bootstrap import run
from services.notifier.http.server import PortUnavailable
from services.notifier.patients.unsubscribe import KEY_FILE
from services.notifier.settings import NotifierSettings
from services.shared.clock import ScaledClock
from services.shared.logs import configure_logging
from services.shared.settings import load_settings


def main() -> int:
    configure_logging("notifier")  # masked, and JSON with CLINIC_LOG_FORMAT=json, as every service
    settings = load_settings(NotifierSettings)
    try:
        clock = ScaledClock.from_environment()
    except ValueError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    try:
        settings.clinic_directory()  # read again at start: refused here
    except (OSError, ValueError) as exc:
        print(f"configuration error: CLINIC_CLINICS_FILE: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def announce(address: str) -> None:
        print(
            f"notifier: consuming {settings.topics.due} on {settings.bootstrap_servers}, "
            f"SMS via {settings.sms_provider}, email via {settings.email_provider}, "
            f"HTTP on {address} (/healthz, /metrics, /v1/twilio/inbound, /v1/twilio/status, "
            "/v1/unsubscribe/...)",
            flush=True,
        )
        if not settings.twilio_auth_token.get_secret_value():
            print(
                "notifier: no CLINIC_TWILIO_AUTH_TOKEN: webhooks are not signature-checked",
                flush=True,
            )
        if settings.unsubscribe_secret is None:
            print(
                "notifier: no CLINIC_UNSUBSCRIBE_SECRET: unsubscribe links are signed with "
                f"this notifier's own key, {settings.var_dir / KEY_FILE}",
                flush=True,
            )

    try:
        run(settings, clock, stop, announce)
    except PortUnavailable as exc:
        print(f"configuration error: CLINIC_NOTIFIER_HTTP_PORT: {exc}", file=sys.stderr)
        return 2
    print("notifier: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
