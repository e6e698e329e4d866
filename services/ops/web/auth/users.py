"""The console's users and their roles, kept in a YAML file written by ``ops user add``.

```yaml
users:
  - name: admin
    role: admin            # or viewer
    password_hash: $argon2id$v=19$m=65536,t=3,p=4$...
  - name: jenny-desk
    role: viewer
    clinics: [dr-jenny]    # sees only these clinics' records (none listed: every clinic)
    password_hash: $argon2id$...
```

The file is read again when it changes, so a user added, removed or given
another role counts at the next request, without restarting the console.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from services.shared.events import is_key_part

NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")  # fullmatch
log = logging.getLogger("ops.web.users")
HEADER = "# Ops console users: `clinic-reminders ops user add NAME --role viewer|admin`.\n"


class Role(StrEnum):
    VIEWER = "viewer"
    """Sees every page, masked; changes nothing."""
    ADMIN = "admin"
    """Also marks replies handled and reveals one record at a time, each reveal audited."""


class UsersFileError(ValueError):
    """The users file cannot be read or says something that is not a user; names why."""


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    password_hash: str
    clinics: tuple[str, ...] = ()
    """The clinics whose records this user sees; empty: every clinic."""


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise UsersFileError(f"user name {name!r}: 1-64 letters, digits or . _ @ -")
    return name


def read_users(path: Path) -> dict[str, User]:
    """Every user in ``path``; raises ``UsersFileError`` naming the entry that is wrong."""
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsersFileError(f"{path}: {exc}") from exc
    entries = loaded.get("users", []) if isinstance(loaded, dict) else None
    if not isinstance(entries, list):
        raise UsersFileError(f"{path}: expected a list under 'users'")
    users = [_user(path, n, entry) for n, entry in enumerate(entries)]
    return {u.name: u for u in users}


def _user(path: Path, n: int, entry: Any) -> User:
    where = f"{path}: users[{n}]"
    if not isinstance(entry, dict):
        raise UsersFileError(f"{where}: expected name, role and password_hash")
    try:
        role = Role(str(entry.get("role")))
    except ValueError as exc:
        raise UsersFileError(f"{where}: role must be viewer or admin") from exc
    hashed = entry.get("password_hash")
    if not isinstance(hashed, str) or not hashed.startswith("$argon2"):
        raise UsersFileError(f"{where}: password_hash must be an argon2 hash (ops user add)")
    clinics = entry.get("clinics") or []
    if not isinstance(clinics, list) or not all(is_key_part(c) for c in clinics):
        raise UsersFileError(f"{where}: clinics must be a list of clinic ids")
    try:
        return User(check_name(str(entry.get("name", ""))), role, hashed, tuple(clinics))
    except UsersFileError as exc:
        raise UsersFileError(f"{where}: {exc}") from exc


def write_users(path: Path, users: dict[str, User]) -> None:
    """Replace ``path`` at once (a temporary file renamed over it), readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"users": [_entry(u) for u in sorted(users.values(), key=lambda u: u.name)]}
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as out:  # mkstemp makes it 600
        out.write(HEADER + yaml.safe_dump(body, sort_keys=False))
    os.replace(temporary, path)


def _entry(user: User) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": user.name, "role": user.role.value}
    if user.clinics:
        entry["clinics"] = list(user.clinics)
    return entry | {"password_hash": user.password_hash}


class UsersFile:
    """The users in one file, read again whenever the file changes; thread-safe."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._users: dict[str, User] = {}
        self.find("")  # a file that is wrong stops the console at start, not at first login

    def find(self, name: str) -> User | None:
        """The user called ``name`` now.

        A file gone means no users. A file that became wrong keeps the users it
        had, with a warning, so that a typo does not lock every admin out; at
        start it raises ``UsersFileError``.
        """
        with self._lock:
            try:
                stat = self.path.stat()
            except FileNotFoundError:
                self._users, self._seen = {}, (0, 0)
                return None
            seen = (stat.st_mtime_ns, stat.st_size)
            if seen != self._seen:
                self._reload(seen)
            return self._users.get(name)

    def _reload(self, seen: tuple[int, int]) -> None:
        try:
            self._users = read_users(self.path)
        except UsersFileError as exc:
            if self._seen is None:
                raise
            log.warning("users file not read again, the last users still count: %s", exc)
        self._seen = seen
