"""``clinic-reminders run``: the whole platform in the foreground, on the embedded default.

Starts the embedded broker (unless ``CLINIC_BOOTSTRAP_SERVERS`` names one),
creates the topics, then the booking service, one reminders worker, the
notifier and the ops console, all sharing one clock. Ctrl-C or SIGTERM stops every process it
started; children also die with it if it is killed outright.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

from services.cli.run_clock import SavedClock
from services.cli.supervisor import Supervisor
from services.shared.broker import EmbeddedBroker
from services.shared.settings import PlatformSettings, load_settings
from services.shared.topics import ensure_topics
from services.shared.web_token import read_or_create_token, token_path

SERVICES = ("booking", "reminders", "notifier", "ops.web")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the whole platform in the foreground")
    parser.add_argument(
        "--broker",
        choices=("embedded", "external"),
        default=None,
        help="embedded: start the built-in broker (default unless CLINIC_BOOTSTRAP_SERVERS is set)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    embedded = args.broker == "embedded" or (
        args.broker is None and "CLINIC_BOOTSTRAP_SERVERS" not in os.environ
    )
    settings = load_settings(PlatformSettings)
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    saved = SavedClock(settings.var_dir / "clock.json")
    clock = saved.clock
    env = {**os.environ, **clock.environment(), "PYTHONUNBUFFERED": "1"}
    # The worker's views want a token; the console reads them with the same one.
    env.setdefault("CLINIC_WORKER_WEB_TOKEN", read_or_create_token(token_path(settings.var_dir)))
    broker = None
    if embedded:
        port = int(settings.bootstrap_servers.rsplit(":", 1)[1])
        log_path = settings.var_dir / "broker.log"
        broker = EmbeddedBroker(port, log_path=log_path, tied=True).start()
        env["CLINIC_BOOTSTRAP_SERVERS"] = broker.bootstrap
        print(f"[platform] embedded broker on {broker.bootstrap}", flush=True)
    bootstrap = env.get("CLINIC_BOOTSTRAP_SERVERS", settings.bootstrap_servers)
    stop = threading.Event()
    supervisor = Supervisor(env)
    try:
        try:
            ensure_topics(
                bootstrap,
                settings.topics.all(),
                settings.partitions,
                configs=settings.topics.configs(),
            )
        except RuntimeError as exc:
            hint = "" if embedded else " (unset CLINIC_BOOTSTRAP_SERVERS or pass --broker embedded)"
            print(f"[platform] {exc}{hint}", file=sys.stderr, flush=True)
            return 2
        carried = " (carried on from the last run)" if saved.resumed else ""
        print(
            f"[platform] clock {clock.now().isoformat()} at x{clock.scale:g}{carried}", flush=True
        )
        for name in SERVICES:
            supervisor.start(name, [sys.executable, "-m", f"services.{name}"])
        _stop_on_signals(stop)
        failed = supervisor.wait_any(stop, every_second=saved.save)
        return 1 if failed else 0
    finally:
        _stop(supervisor, broker, saved)


def _stop(supervisor: Supervisor, broker: EmbeddedBroker | None, saved: SavedClock) -> None:
    """The services first, so they let go of the broker cleanly; the broker last."""
    began = time.monotonic()
    print("[platform] stopping the services", flush=True)
    stopped = supervisor.stop_all()
    saved.save()
    if broker is not None:
        broker.stop()
        stopped.append("broker")
    took = time.monotonic() - began
    print(f"[platform] stopped {', '.join(stopped) or 'nothing'} in {took:.1f}s", flush=True)


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
