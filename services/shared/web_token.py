"""The token that guards the reminders worker's web views, shared with whoever reads them.

Set ``CLINIC_WORKER_WEB_TOKEN`` (the same for the worker and the ops console) in
production. Without it the worker makes a random one in
``{CLINIC_VAR_DIR}/worker-web.token`` (mode 600) on its first start, and the ops
console and ``clinic-reminders status`` on the same machine read it from there:
never a built-in token.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

TOKEN_FILE = "worker-web.token"


def token_path(var_dir: Path) -> Path:
    return var_dir / TOKEN_FILE


def read_token(path: Path) -> str | None:
    """The token kept in ``path``, or None when there is no such file or it is empty."""
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        return None
    return token or None


def read_or_create_token(path: Path) -> str:
    """The token in ``path``; a new random one written there first (mode 600) if none.

    Two processes starting together get the same token: the file is created exclusively.
    """
    found = read_token(path)
    if found:
        return found
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_token(path) or read_or_create_token(path)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def bearer_matches(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header is ``Bearer <token>``, compared in constant time."""
    scheme, _, given = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())
