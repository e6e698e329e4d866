"""``clinic-reminders tail|dlq|status``: what ops teams use to watch the platform and act.

Exit codes: 0 done, 1 the broker did not answer, 2 a bad argument (unknown
topic, unknown dead letter, bad configuration).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.console import Console

from services.ops import dlq
from services.ops.dlq_view import letter_dict, print_letter, print_table
from services.ops.erasures import erased_patients
from services.ops.kafka_io import BrokerUnavailable, TopicNotFound, open_writer
from services.ops.names import SHORT_NAMES, resolve_topic
from services.ops.settings import OpsSettings
from services.ops.status import collect
from services.ops.status_view import print_status
from services.ops.tail import TailOptions, tail
from services.shared.clock import ScaledClock
from services.shared.kafka_access import KafkaAccess
from services.shared.settings import load_settings


def register(subparsers: Any) -> None:
    _register_tail(subparsers)
    _register_dlq(subparsers)
    _register_status(subparsers)


def _register_tail(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "tail",
        help="follow a topic and pretty-print its events (phones and emails masked)",
        description="Follow a topic and show each event, decoded with the platform's "
        "contracts. Phone numbers and email addresses are masked. Records that are not "
        "valid events are shown as undecodable with the reason.",
    )
    parser.add_argument("topic", help=f"one of {', '.join(SHORT_NAMES)}, or a full topic name")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest record")
    parser.add_argument("--limit", type=_positive, default=None, help="stop after N records")
    parser.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop once no record arrived for SECONDS (default: follow until Ctrl-C)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=tail_command)


def tail_command(args: argparse.Namespace) -> int:
    settings = load_settings(OpsSettings)
    try:
        options = TailOptions(
            kafka=settings.kafka,
            topic=resolve_topic(args.topic, settings.topics),
            from_beginning=args.from_beginning,
            limit=args.limit,
            idle_seconds=args.idle_exit,
            as_json=args.json,
        )
        tail(options, Console(highlight=False, soft_wrap=True))
    except KeyboardInterrupt:
        return 0
    except (ValueError, TopicNotFound) as exc:
        return _fail("tail", exc, 2)
    except BrokerUnavailable as exc:
        return _fail("tail", exc, 1)
    return 0


def _register_dlq(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dlq",
        help="list, show and replay dead letters",
        description="Dead letters are records a service could not process, kept with the "
        "reason. Ids look like bookings:2:15 (queue, partition, offset). A replay publishes "
        "the original record back to its original topic; the dead letter stays, and a "
        "record that fails again is dead-lettered again with its reason. Letters about a "
        "patient erased since are never listed, shown or replayed.",
    )
    actions = parser.add_subparsers(dest="action", required=True)
    for name, text in (
        ("list", "every dead letter: time, origin, key, reason"),
        ("show", "one dead letter in full"),
        ("replay", "publish a dead letter's record back to its original topic"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("--topic", choices=dlq.QUEUES, help="one queue (default: both)")
        action.add_argument("--json", action="store_true", help="print JSON")
        if name in ("show", "replay"):
            action.add_argument(
                "id", nargs="?" if name == "replay" else None, help="e.g. notifications:2:15"
            )
        if name == "replay":
            action.add_argument("--all", action="store_true", help="every matching letter")
            action.add_argument("--reason", help="only letters whose reason contains this")
        action.set_defaults(func=dlq_command)


def dlq_command(args: argparse.Namespace) -> int:
    settings = load_settings(OpsSettings)
    queues = [args.topic] if args.topic else list(dlq.QUEUES)
    console = Console(highlight=False, soft_wrap=args.json)
    try:
        erased = erased_patients(settings.kafka, settings.topics.erasures, settings.erasure_keys)
        letters = dlq.list_letters(settings.kafka, settings.topics, queues, erased)
        if args.action == "list":
            _show_list(letters, args.json, console)
        elif args.action == "show":
            _show_one(dlq.find(letters, args.id), args.json, console)
        else:
            return _replay(settings.kafka, _chosen(letters, args), args.json)
    except (ValueError, LookupError, TopicNotFound) as exc:
        return _fail("dlq", exc, 2)
    except BrokerUnavailable as exc:
        return _fail("dlq", exc, 1)
    return 0


def _show_list(letters: list[dlq.Letter], as_json: bool, console: Console) -> None:
    if as_json:
        print(json.dumps([letter_dict(letter) for letter in letters], indent=2))
    else:
        print_table(letters, console)


def _show_one(letter: dlq.Letter, as_json: bool, console: Console) -> None:
    if as_json:
        print(json.dumps(letter_dict(letter, full=True), indent=2))
    else:
        print_letter(letter, console)


def _chosen(letters: list[dlq.Letter], args: argparse.Namespace) -> list[dlq.Letter]:
    if args.all == bool(args.id):
        raise ValueError("replay: give one dead letter id, or --all (with --reason to narrow)")
    if args.id:
        return [dlq.find(letters, args.id)]
    return dlq.matching(letters, args.reason)


def _replay(kafka: KafkaAccess, letters: list[dlq.Letter], as_json: bool) -> int:
    """Replay each letter in order; stop at the first that fails (exit 1)."""
    producer = open_writer(kafka)
    done: list[dict[str, Any]] = []
    try:
        for letter in letters:
            landed = dlq.replay(producer, letter)
            done.append(vars(landed))
            if not as_json:
                where = f"{landed.topic}/{landed.partition}/{landed.offset}"
                print(f"replayed {landed.letter_id} -> {where}")
    except dlq.NotReplayable as exc:
        return _fail("dlq replay", exc, 1)
    finally:
        producer.close()
        if as_json:
            print(json.dumps(done, indent=2))
    if not as_json:
        print(f"{len(done)} dead letter(s) replayed")
    return 0


def _register_status(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "status",
        help="one screen: broker, topics, consumer lag, pending, deliveries, failures",
        description="Broker, topics and end offsets, consumer lag of the notifier "
        "(CLINIC_CONSUMER_GROUP) and the reminders worker ({prefix}clinic-reminders), "
        "reminders pending and due soon (from every reminders worker's /reminders/stats "
        "view, the one at CLINIC_WORKER_WEB_HOST/PORT and those registered on the workers "
        "topic; unknown, with a note, unless they cover every partition once), deliveries "
        "by state and channel and failures in the last hour (from "
        "CLINIC_NOTIFIER_DATABASE_URL), and the booking outbox backlog (from "
        "CLINIC_BOOKING_DATABASE_URL). The embedded broker reports end offsets short by "
        "the records in the last batch less one, so lag can read low; with CLINIC_ON_TANSU "
        "(the default) status reads each last batch to correct them.",
    )
    parser.add_argument("--json", action="store_true", help="the same, as JSON for scripts")
    parser.add_argument(
        "--group", action="append", default=[], help="another consumer group to show (repeat)"
    )
    parser.set_defaults(func=status_command)


def status_command(args: argparse.Namespace) -> int:
    """Exit 0 when the broker answered, 1 when it did not (the rest is still shown)."""
    settings = load_settings(OpsSettings)
    groups = [settings.consumer_group, settings.reminders_group, *args.group]
    status = collect(settings, ScaledClock.from_environment(), groups)
    if args.json:
        print(json.dumps(status.as_json(), indent=2))
    else:
        print_status(status, Console(highlight=False))
    return 0 if status.broker_reachable else 1


def _fail(command: str, exc: Exception, code: int) -> int:
    print(f"{command}: {exc}", file=sys.stderr)
    return code


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
