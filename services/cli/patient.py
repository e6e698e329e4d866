"""``clinic-reminders patient erase|erasures``: forget a patient, and the audit trail of it.

``erase`` erases the patient from the booking store (the same use case as the
booking API's ``DELETE /v1/clinics/{clinic}/patients/{patient}``) and queues
``patient.erased`` in its outbox; the running booking service publishes it, and
the reminders worker and the notifier erase what they keep when they read it.
The command then waits (``--wait``) for their records on the erasures topic and
prints every store's count. Exit codes: 0 erased (and, when waited for, every
service answered), 1 a service did not answer in time, 2 a bad argument.
"""

from __future__ import annotations

import argparse
import getpass
import json
from typing import Any

from rich.console import Console
from rich.table import Table

from services.booking.errors import InvalidBooking
from services.booking.settings import BookingSettings
from services.cli.booking_service import booking_service
from services.ops.erasures import erasure_records, wait_for_records
from services.ops.kafka_io import BrokerUnavailable, TopicNotFound
from services.shared.erasure import ErasureRecord
from services.shared.settings import load_settings

FOLLOWERS = ("reminders", "notifier")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "patient",
        help="erase a patient everywhere the platform keeps them; the erasures done",
        description="Patients' data: erase one patient of one clinic (bookings, history, "
        "queued events, plans, deliveries, consent, replies, local sinks), and the audit "
        "trail of erasures (no personal data in it: a keyed hash of each patient).",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    erase = actions.add_parser("erase", help="forget one patient of one clinic")
    erase.add_argument("--clinic", required=True, help="the clinic id")
    erase.add_argument("--patient", required=True, help="the patient id at that clinic")
    erase.add_argument("--by", default=None, help="who asks, for the audit record")
    erase.add_argument(
        "--wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the worker's and the notifier's counts (0: do not wait)",
    )
    erase.add_argument("--json", action="store_true", help="print JSON")
    erase.set_defaults(func=erase_command)
    trail = actions.add_parser("erasures", help="every erasure record on the erasures topic")
    trail.add_argument("--json", action="store_true", help="print JSON")
    trail.set_defaults(func=erasures_command)


def erase_command(args: argparse.Namespace) -> int:
    settings = load_settings(BookingSettings)
    with booking_service() as service:
        try:
            erasure = service.erase_patient(args.clinic, args.patient, f"cli: {_who(args.by)}")
        except InvalidBooking as exc:
            print(f"patient erase: {exc}")
            return 2
    records = [erasure.record]
    note = None
    if args.wait > 0:
        try:
            records += wait_for_records(
                settings.kafka,
                settings.topics.erasures,
                erasure.event.erasure_id,
                FOLLOWERS,
                args.wait,
            )
        except (BrokerUnavailable, TopicNotFound) as exc:
            note = f"{exc}; the erasure waits in the booking outbox until the broker answers"
    missing = [s for s in FOLLOWERS if s not in {r.service for r in records}]
    if missing and note is None and args.wait > 0:
        note = (
            f"no word yet from {', '.join(missing)}: each erases when it reads patient.erased "
            "(the booking service must be running to publish it); see `patient erasures`"
        )
    _show(records, note, args.json)
    return 1 if missing and args.wait > 0 else 0


def erasures_command(args: argparse.Namespace) -> int:
    settings = load_settings(BookingSettings)
    try:
        records = erasure_records(settings.kafka, settings.topics.erasures)
    except BrokerUnavailable as exc:
        print(f"patient erasures: {exc}")
        return 1
    _show(records, None, args.json)
    return 0


def _show(records: list[ErasureRecord], note: str | None, as_json: bool) -> None:
    if as_json:
        body = {"records": [r.model_dump(mode="json") for r in records], "note": note}
        print(json.dumps(body, indent=2))
        return
    console = Console(highlight=False)
    table = Table(title=f"{len(records)} erasure record(s)")
    for column in ("erasure", "service", "clinic", "patient (hash)", "by", "erased at", "erased"):
        table.add_column(column, overflow="fold")
    for r in records:
        counts = ", ".join(f"{store} {n}" for store, n in r.counts.items())
        table.add_row(
            r.erasure_id,
            r.service,
            r.clinic_id,
            r.patient_hash[:16],
            r.requested_by or "",
            r.erased_at.isoformat(),
            counts,
        )
    console.print(table)
    if note:
        console.print(note, markup=False)


def _who(named: str | None) -> str:
    if named:
        return named[:100]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
