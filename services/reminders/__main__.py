"""``python -m services.reminders``: run one reminders worker in the foreground."""

from __future__ import annotations

import logging
from typing import Any

import faust

from services.reminders.planning.protocol import BUILTIN_DIR, ProtocolError, ProtocolRegistry
from services.reminders.schedule.policies import clinic_policies
from services.reminders.settings import ReminderSettings
from services.reminders.worker.app import changelog_topics, create_app, owned_partitions
from services.shared.clock import ScaledClock
from services.shared.logs import configure_logging
from services.shared.settings import load_settings
from services.shared.topics import ensure_topics


class Worker(faust.Worker):
    """A faust worker that says plainly when it is ready, and draws no spinner."""

    def __init__(self, app: faust.App, ticks_topic: str, **options: Any) -> None:
        super().__init__(app, **options)
        self._ticks_topic = ticks_topic

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        partitions = owned_partitions(self.app, self._ticks_topic)
        print(f"reminders worker ready, partitions {partitions}", flush=True)


def main() -> None:
    configure_logging("reminders")
    # Faust's services subclassed here (recovery, store, changelog table, consumer, monitor)
    # log their lifecycle and offset tables under these modules' names: kept to warnings,
    # as Faust's own are; the worker's story is told on "clinic.reminders".
    logging.getLogger("services.reminders").setLevel(logging.WARNING)
    settings = load_settings(ReminderSettings)
    try:
        clock = ScaledClock.from_environment()
    except ValueError as exc:
        raise SystemExit(f"configuration error: {exc}") from exc
    extra = [settings.protocols_dir] if settings.protocols_dir else []
    try:
        registry = ProtocolRegistry.from_dirs(BUILTIN_DIR, *extra)
    except ProtocolError as exc:
        raise SystemExit(f"configuration error: CLINIC_PROTOCOLS_DIR: {exc}") from exc
    try:
        clinics = settings.clinic_directory()
    except (OSError, ValueError) as exc:
        raise SystemExit(f"configuration error: CLINIC_CLINICS_FILE: {exc}") from exc
    policy = clinic_policies(clinics)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings, clock, registry, policy)
    # The changelogs too, before Faust would: it creates topics with one replica (its
    # ``topic_replication_factor``), and a changelog on one broker of a cluster stops
    # the worker when that broker dies and loses plans with its disk.
    changelogs = changelog_topics(app)
    ensure_topics(
        settings.kafka,
        [*settings.topics.all(), *changelogs],
        settings.partitions,
        configs={**settings.topics.configs(), **changelogs},
    )
    print(
        f"reminders worker {settings.worker_id} on {settings.bootstrap_servers}, "
        f"web {settings.web_url}, clock x{clock.scale:g}",
        flush=True,
    )
    worker = Worker(app, settings.topics.ticks, override_logging=False, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
