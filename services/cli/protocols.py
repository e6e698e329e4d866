"""``clinic-reminders protocols validate PATH|list``: check a clinic's own protocol file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from services.reminders.planning import ProtocolError, ProtocolRegistry, load_protocol
from services.reminders.planning.protocol import BUILTIN_DIR


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("protocols", help="check or list treatment protocols")
    sub = parser.add_subparsers(dest="protocols_command", required=True)
    validate = sub.add_parser("validate", help="check a protocol file (YAML)")
    validate.add_argument("path", type=Path, help="the protocol file, e.g. my-clinic/peel.yaml")
    validate.set_defaults(func=validate_command)
    listing = sub.add_parser("list", help="list the treatments the platform knows")
    listing.add_argument(
        "--protocols-dir",
        type=Path,
        action="append",
        default=[],
        help="a directory of the clinic's own protocols (may repeat)",
    )
    listing.set_defaults(func=list_command)


def validate_command(args: argparse.Namespace) -> int:
    """Exit 0 with a one-line summary, or 1 with the error naming file, milestone and field."""
    try:
        protocol = load_protocol(args.path)
    except ProtocolError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(
        f"{args.path.name}: ok: {protocol.treatment} v{protocol.version}, "
        f"{len(protocol.milestones)} milestones, {len(protocol.templates())} templates"
    )
    return 0


def list_command(args: argparse.Namespace) -> int:
    """Print each known treatment with its version and milestone count."""
    try:
        registry = ProtocolRegistry.from_dirs(BUILTIN_DIR, *args.protocols_dir)
    except ProtocolError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for treatment in registry.treatments():
        protocol = registry.get(treatment)
        print(f"{treatment} v{protocol.version}: {len(protocol.milestones)} milestones")
    return 0
