"""``clinic-reminders ops user add|remove|list``: who may log in to the ops console.

The password is read from a prompt (twice) or, when stdin is not a terminal, from its
first line; never from the command line, where other users and the shell history see it.
Exit codes: 0 done, 2 a bad argument (a short password, an unknown user, a bad file).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import Any

from services.ops.web.auth.passwords import hash_password
from services.ops.web.auth.users import (
    Role,
    User,
    UsersFileError,
    check_name,
    read_users,
    write_users,
)
from services.ops.web.settings import OpsWebSettings
from services.shared.events import is_key_part
from services.shared.settings import load_settings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("ops", help="the ops console's users")
    kinds = parser.add_subparsers(dest="kind", required=True)
    user = kinds.add_parser("user", help="add, remove or list the console's users")
    actions = user.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a user, or set a user's password and role")
    add.add_argument("name")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.VIEWER.value)
    add.add_argument(
        "--clinic",
        action="append",
        default=[],
        help="only this clinic's records (repeat for more; none: every clinic)",
    )
    remove = actions.add_parser("remove", help="remove a user (their sessions end at once)")
    remove.add_argument("name")
    actions.add_parser("list", help="every user and their role")
    for action in (add, remove, actions.choices["list"]):
        action.add_argument(
            "--users-file",
            type=Path,
            default=None,
            help="default: CLINIC_OPS_USERS_FILE, else {CLINIC_VAR_DIR}/ops-users.yaml",
        )
        action.set_defaults(func=user_command)


def user_command(args: argparse.Namespace) -> int:
    path = args.users_file or load_settings(OpsWebSettings).users_path
    try:
        users = read_users(path) if path.exists() else {}
        if args.action == "list":
            for user in sorted(users.values(), key=lambda u: u.name):
                print(f"{user.name}\t{user.role.value}\t{','.join(user.clinics) or 'every clinic'}")
            return 0
        name = check_name(args.name)
        if args.action == "remove":
            if users.pop(name, None) is None:
                raise UsersFileError(f"no user {name!r} in {path}")
            write_users(path, users)
            print(f"removed {name} from {path}")
            return 0
        clinics = tuple(dict.fromkeys(args.clinic))
        if bad := [c for c in clinics if not is_key_part(c)]:
            raise UsersFileError(f"not a clinic id: {', '.join(bad)}")
        users[name] = User(name, Role(args.role), hash_password(read_password(name)), clinics)
    except (UsersFileError, ValueError) as exc:
        print(f"ops user {args.action}: {exc}", file=sys.stderr)
        return 2
    write_users(path, users)
    seen = ", ".join(args.clinic) if args.clinic else "every clinic"
    print(f"{name} ({args.role}, {seen}) in {path}")
    return 0


def read_password(name: str) -> str:
    """From a prompt, asked twice, or the first line of stdin when it is not a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {name}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first
