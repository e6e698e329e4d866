"""``clinic-reminders``: the command line of the platform.

Each sub-command lives in its own module with a ``register(subparsers)``
function that adds its parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "services.cli.run",
    "services.cli.plan",
    "services.cli.protocols",
    "services.cli.templates",
    "services.cli.resync",
    "services.cli.sources.imports",
    "services.cli.sources.calendar",
    "services.cli.sources.fhir",
    "services.cli.ops",
    "services.cli.ops_users",
    "services.cli.patient",
    "services.cli.kafka",
    "services.cli.grants",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clinic-reminders", description="Appointment reminders for clinics."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
