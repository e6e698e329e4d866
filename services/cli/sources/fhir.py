"""``clinic-reminders fhir sync BASE_URL --clinic ID`` and ``fhir check BASE_URL``.

``sync`` follows a clinic's FHIR R4 server: booked appointments become the clinic's
bookings (under the Appointment's id), moved ones are rescheduled, cancelled,
attended and no-show ones change their booking, through the booking store and its
outbox, so the booking service publishes them. ``--once`` makes one pass and prints
what each appointment came to. ``check`` says, before anything is booked, what the
server supports and what a first pass would take and refuse, and why.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console

from services.booking.settings import FhirServerSettings
from services.booking.sources.fhir.capabilities import ServerSupport
from services.booking.sources.fhir.errors import FhirRefusedRequest, FhirUnavailable
from services.booking.sources.fhir.state import FhirState
from services.booking.sources.fhir.sync import FhirServer, FhirSync, build_server
from services.booking.sources.report import Outcome
from services.cli.booking_service import booking_service
from services.cli.sources.reports import follow, report_table


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "fhir", help="follow a clinic's FHIR R4 server's appointments", description=__doc__
    )
    actions = parser.add_subparsers(dest="fhir_command", required=True)
    sync = actions.add_parser("sync", help="book, move and cancel from a FHIR server")
    _server_arguments(sync)
    sync.add_argument("--once", action="store_true", help="one pass, then exit")
    sync.add_argument("--every", type=float, default=60.0, help="seconds between passes")
    sync.set_defaults(func=run_sync)
    check = actions.add_parser("check", help="what the server supports, and what it would give")
    _server_arguments(check, clinic_required=False)
    check.set_defaults(func=run_check)


def _server_arguments(parser: argparse.ArgumentParser, clinic_required: bool = True) -> None:
    parser.add_argument("base_url", metavar="BASE_URL", help="the server's FHIR R4 base URL")
    parser.add_argument(
        "--clinic",
        required=clinic_required,
        default="check",
        help="the clinic the bookings belong to",
    )
    parser.add_argument(
        "--treatment",
        help="the treatment (TREATMENT or TREATMENT/KIND) when no --map entry matches",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="KEY=TREATMENT",
        help="a serviceType/appointmentType coding (SYSTEM|CODE, CODE or text) and our treatment",
    )
    parser.add_argument("--timezone", default="Europe/London", help="the clinic's IANA time zone")
    parser.add_argument(
        "--consent",
        default="sms,email",
        help="the channels the clinic's patients agreed to when booking (or none)",
    )
    parser.add_argument("--token-file", type=Path, help="a file holding a static bearer token")
    parser.add_argument("--token-url", help="OAuth2 token endpoint (client credentials)")
    parser.add_argument("--client-id", help="OAuth2 client id")
    parser.add_argument(
        "--private-key-file",
        type=Path,
        help="SMART Backend Services: the client's RSA or EC P-384 private key (PEM)",
    )
    parser.add_argument("--key-id", help="the kid of the key's public half, as registered")
    parser.add_argument("--client-secret-file", type=Path, help="a file holding the client secret")


def _usable(args: argparse.Namespace, console: Console) -> FhirServer | None:
    """The server the arguments name, or None once it is said why it cannot be used."""
    try:
        return _server(args)
    except (OSError, ValueError) as exc:
        console.print(f"[red]cannot use this server: {exc}[/red]")
        return None


def run_sync(args: argparse.Namespace) -> int:
    """One pass (exit 0, or 1 if any appointment was refused; 3 if the server could not be
    read), or poll until interrupted (0). 2: the arguments cannot be used."""
    console = Console()
    if (server := _usable(args, console)) is None:
        return 2
    with booking_service() as service:
        follower = FhirSync(server, service, FhirState(service.store.engine))
        return follow("fhir", "appointment", follower, args.once, args.every)


def run_check(args: argparse.Namespace) -> int:
    """0 when the server can be followed, 1 when it does not let Appointments be searched or
    Patients read, 3 when it cannot be read, 2 on bad arguments."""
    console = Console()
    if (server := _usable(args, console)) is None:
        return 2
    with booking_service() as service:
        try:
            support = ServerSupport.of(server.client.capabilities())
            for line in support.lines():
                console.print(line)
            report = FhirSync(server, service, FhirState(service.store.engine)).preview()
        except (FhirUnavailable, FhirRefusedRequest) as exc:
            console.print(f"[red]cannot read the server: {exc}[/red]")
            return 3
    console.print(
        report_table([r for r in report.results if r.outcome is not Outcome.CREATED], "appointment")
    )
    taken, refused = report.count(Outcome.CREATED), len(report.rejected)
    left = report.count(Outcome.IGNORED)
    console.print(
        f"upcoming appointments: {taken} would be reminded, {refused} refused (reasons above),"
        f" {left} not reminded by their status"
    )
    if not server.rules.consent:
        console.print("[yellow]--consent none: no patient would be sent anything[/yellow]")
    return 0 if support.followable else 1


def _server(args: argparse.Namespace) -> FhirServer:
    """The server and the clinic's rules the arguments name; ValueError or OSError says why not."""
    map_entries = {}
    for entry in args.map:
        key, equals, value = entry.partition("=")
        if not equals or not key.strip():
            raise ValueError(f"--map {entry!r}: write SYSTEM|CODE=TREATMENT, CODE=... or TEXT=...")
        map_entries[key.strip()] = value
    try:
        entry = FhirServerSettings(
            clinic_id=args.clinic,
            base_url=args.base_url,
            treatment=args.treatment,
            map=map_entries,
            timezone=args.timezone,
            consent=args.consent,
            token_file=args.token_file,
            token_url=args.token_url,
            client_id=args.client_id,
            private_key_file=args.private_key_file,
            key_id=args.key_id,
            client_secret_file=args.client_secret_file,
        )
    except ValidationError as exc:
        raise ValueError("; ".join(_said(error) for error in exc.errors())) from None
    return build_server(entry)


def _said(error: Any) -> str:
    """One settings error as the options would say it."""
    where = "--" + str(error["loc"][0]).replace("_", "-") if error["loc"] else ""
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
